"""Load generators: ``wrk`` (Debian) when present, else a small asyncio one.

Both drive keep-alive HTTP/1.1 connections at one loopback URL for a bounded time and report
requests per second, the 50th and 99th latency percentiles, and errors (socket errors plus
answers other than 2xx/3xx). Only loopback targets are accepted.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    seconds: float
    tool: str


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in _LOOPBACK and not host.startswith("127."):
        raise ValueError(f"load is only ever sent to this machine's loopback, not {url!r}")


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str | None:
    path = wrk_path()
    if path is None:
        return None
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def parse_wrk(output: str) -> LoadResult:
    """The figures of ``wrk --latency`` output."""
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    latencies = {
        match[1]: float(match[2]) * _UNITS[match[3]] for match in _LATENCY.finditer(output)
    }
    if rps is None or total is None or set(latencies) != {"50", "99"}:
        raise ValueError(f"unexpected wrk output:\n{output}")
    socket = _SOCKET.search(output)
    non_2xx = _NON_2XX.search(output)
    errors = sum(int(n) for n in socket.groups()) if socket else 0
    errors += int(non_2xx[1]) if non_2xx else 0
    return LoadResult(
        rps=float(rps[1]),
        p50_ms=latencies["50"],
        p99_ms=latencies["99"],
        errors=errors,
        requests=int(total[1]),
        seconds=float(total[2]) * _UNITS[total[3]] / 1000,
        tool="wrk",
    )


def run_wrk(
    url: str, *, connections: int, seconds: float, headers: Mapping[str, str], threads: int
) -> LoadResult:
    check_loopback(url)
    path = wrk_path()
    if path is None:
        raise RuntimeError("wrk is not installed")
    command = [
        path,
        f"-t{max(1, min(threads, connections))}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


# --- the Python load generator ----------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    latencies: list[float]
    errors: int = 0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, connection stays open) of one response, its body read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    keep = True
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection" and value.strip().lower() == "close":
            keep = False
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, keep


async def _connection(host: str, port: int, request: bytes, deadline: float, tally: _Tally) -> None:
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    while time.monotonic() < deadline:
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status, keep = await asyncio.wait_for(_read_response(reader), timeout=5)
            tally.latencies.append((time.perf_counter() - started) * 1000)
            if not 200 <= status < 400:
                tally.errors += 1
            if not keep:
                writer.close()
                writer = reader = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            tally.errors += 1
            if writer is not None:
                writer.close()
            writer = reader = None
    if writer is not None:
        writer.close()


async def _drive(
    url: str, connections: int, seconds: float, headers: Mapping[str, str]
) -> tuple[_Tally, float]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "User-Agent: benchmarks"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    tally = _Tally([])
    started = time.perf_counter()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(_connection(host, port, request, deadline, tally) for _ in range(connections))
    )
    return tally, time.perf_counter() - started


def run_python(
    url: str, *, connections: int, seconds: float, headers: Mapping[str, str]
) -> LoadResult:
    check_loopback(url)
    tally, elapsed = asyncio.run(_drive(url, connections, seconds, headers))
    latencies = sorted(tally.latencies)
    if not latencies:
        return LoadResult(0.0, 0.0, 0.0, tally.errors, 0, elapsed, "python")
    p99_index = min(len(latencies) - 1, int(len(latencies) * 0.99))
    return LoadResult(
        rps=len(latencies) / elapsed,
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[p99_index],
        errors=tally.errors,
        requests=len(latencies),
        seconds=elapsed,
        tool="python",
    )


def run_load(
    url: str,
    *,
    tool: str,
    connections: int,
    seconds: float,
    headers: Mapping[str, str],
    threads: int,
) -> LoadResult:
    """``tool`` is "wrk" or "python"."""
    if tool == "wrk":
        return run_wrk(
            url, connections=connections, seconds=seconds, headers=headers, threads=threads
        )
    return run_python(url, connections=connections, seconds=seconds, headers=headers)
