"""The real web server as the Procfile runs it: hostile requests, a vanishing database,
N workers beside one scheduler, and load during a large refresh."""

from __future__ import annotations

import http.client
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

import pytest

from aggregator.store import Store
from tests import reliability
from tests.bigdigest import write_digest
from tests.conftest import SEED
from tests.netproxy import Proxy
from tests.processes import aggregator, env_for
from tests.test_store import ingest
from tests.test_web_server import procfile_command, start

pytestmark = pytest.mark.reliability
TOKEN = "hostile-test-token-0123456789"


@contextmanager
def procfile_web(database_url: str, folder: Path, workers: int = 2, **env: str) -> Iterator[int]:
    """The Procfile's web: line on a free loopback port; yields the port."""
    with start(
        procfile_command("web"), "web", database_url, folder, workers=workers, extra_env=env
    ) as server:
        yield server.port


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def raw(port: int, data: bytes) -> tuple[int | None, bytes]:
    """Sends bytes as they are; returns (status or None if the server just closed, response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    answer = b"".join(chunks)
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return (int(match[1]) if match else None), answer


def request(
    method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


ETAG_PROBE = "/all.atom"
HOSTILE: list[tuple[str, bytes]] = [
    ("traversal", request("GET", "/../../etc/passwd")),
    ("traversal-encoded", request("GET", "/%2e%2e/%2e%2e/etc/passwd")),
    ("traversal-double-encoded", request("GET", "/%252e%252e/etc/passwd")),
    ("traversal-feed", request("GET", "/..%2f..%2fetc%2fpasswd.atom")),
    ("encoded-slash", request("GET", "/ecogeo%2Fen.atom")),
    ("backslash", request("GET", "/..\\..\\etc\\passwd")),
    ("absolute-uri", request("GET", "http://evil.example/all.atom")),
    ("nul-in-path", b"GET /all\x00.atom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("nul-encoded", request("GET", "/all%00.atom")),
    ("invalid-utf8-path", b"GET /\xff\xfe.atom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("invalid-utf8-encoded", request("GET", "/%ff%fe.atom")),
    ("invalid-utf8-query", request("GET", "/all.atom?q=%ff%fe")),
    ("overlong-agency", request("GET", "/" + "a" * 300 + ".atom")),
    ("overlong-path", request("GET", "/" + "a/" * 4000 + "x.atom")),
    ("overlong-query", request("GET", "/all.atom?q=" + "x" * 10000)),
    ("overlong-limit", request("GET", "/all.atom?limit=" + "9" * 400)),
    ("limit-zero", request("GET", "/all.atom?limit=0")),
    ("limit-negative", request("GET", "/all.atom?limit=-5")),
    ("limit-float", request("GET", "/all.atom?limit=1.5")),
    ("limit-huge", request("GET", "/all.atom?limit=100000")),
    ("limit-repeated", request("GET", "/all.atom?limit=1&limit=2")),
    ("before-garbage", request("GET", "/all.atom?before=yesterday")),
    ("before-no-offset", request("GET", "/all.atom?before=2025-02-14T00:00:00")),
    ("before-year-0", request("GET", "/all.atom?before=0000-01-01T00:00:00Z")),
    ("before-year-9999", request("GET", "/all.atom?before=9999-12-31T23:59:59%2B14:00")),
    ("skip-without-before", request("GET", "/all.atom?skip=3")),
    ("skip-negative", request("GET", "/all.atom?before=2025-02-14T00:00:00Z&skip=-1")),
    ("q-sql", request("GET", "/all.atom?q=%27%3B%20DROP%20TABLE%20items%3B--")),
    ("q-like-wildcards", request("GET", "/all.atom?q=%25_%25_%5C")),
    ("q-nul", request("GET", "/all.atom?q=%00")),
    ("embed-n-huge", request("GET", "/embed/all?n=99999999999999999999")),
    ("embed-theme-bad", request("GET", "/embed/all?theme=%3Cscript%3E")),
    ("embed-unknown", request("GET", "/embed/nope/xx")),
    ("unknown-lang", request("GET", "/ecogeo/de.atom")),
    ("unknown-ext", request("GET", "/ecogeo.xml")),
    ("huge-header", request("GET", "/all.atom", {"X-Big": "x" * 60000})),
    ("many-headers", request("GET", "/all.atom", {f"X-H{i}": "v" for i in range(500)})),
    (
        "conflicting-conditionals",
        request(
            "GET",
            ETAG_PROBE,
            {"If-None-Match": '"nope"', "If-Modified-Since": "Wed, 01 Jan 2099 00:00:00 GMT"},
        ),
    ),
    ("bad-if-modified-since", request("GET", ETAG_PROBE, {"If-Modified-Since": "not a date"})),
    ("star-if-none-match", request("GET", ETAG_PROBE, {"If-None-Match": "*"})),
    ("garbage-if-none-match", request("GET", ETAG_PROBE, {"If-None-Match": '"' * 3000})),
    ("bad-accept-encoding", request("GET", ETAG_PROBE, {"Accept-Encoding": "gzip;q=abc, \x01"})),
    ("bad-accept-language", request("GET", "/embed/all", {"Accept-Language": "ru;q=x,,,;;;"})),
    ("bad-host", request("GET", "/all.atom", {"Host": "\x01evil"})),
    (
        "forwarded-spoof",
        request(
            "GET", "/all.atom", {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "gopher"}
        ),
    ),
    ("post-feed", request("POST", "/all.atom", body=b"x=1")),
    ("put-feed", request("PUT", "/all.atom", body=b"x")),
    ("delete-feed", request("DELETE", "/all.atom")),
    ("patch-index", request("PATCH", "/")),
    ("options-feed", request("OPTIONS", "/all.atom")),
    ("trace", request("TRACE", "/")),
    ("connect", b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n"),
    ("weird-method", request("BREW", "/all.atom")),
    ("http-0.9", b"GET /all.atom\r\n\r\n"),
    ("garbage-request-line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64),
    ("refresh-no-token", request("POST", "/refresh")),
    ("refresh-wrong-token", request("POST", "/refresh", {"Authorization": "Bearer wrong"})),
    ("refresh-basic", request("POST", "/refresh", {"Authorization": f"Basic {TOKEN}"})),
    ("refresh-token-in-query", request("POST", f"/refresh?token={TOKEN}")),
    ("refresh-get", request("GET", "/refresh")),
    ("refresh-status-bad-id", request("GET", "/refresh/abc", {"Authorization": f"Bearer {TOKEN}"})),
    (
        "refresh-status-huge-id",
        request("GET", "/refresh/" + "9" * 50, {"Authorization": f"Bearer {TOKEN}"}),
    ),
    ("metrics-post", request("POST", "/metrics")),
    ("healthz-query", request("GET", "/healthz?" + "a=b&" * 2000)),
    (
        "chunked-garbage",
        b"POST /refresh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\nzz\r\n",
    ),
    (
        "smuggling",
        b"POST /all.atom HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
    ),
]


def test_hostile_requests_against_the_procfile_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url) as store:
        ingest(store, SEED)
    assert len(HOSTILE) >= 50
    with procfile_web(url, tmp_path, AGGREGATOR_REFRESH_TOKEN=TOKEN) as port:
        failures = []
        for name, data in HOSTILE:
            status, answer = raw(port, data)
            head = answer.partition(b"\r\n\r\n")[0]
            problems = []
            if status is not None and status >= 500:
                problems.append(f"status {status}")
            if b"Traceback" in answer or b"root:x:0:0" in answer or TOKEN.encode() in answer:
                problems.append("leak")
            if (
                status is not None
                and status == 200
                and name.startswith(("traversal", "nul", "backslash"))
            ):
                problems.append("served something for a path trick")
            if problems:
                failures.append((name, status, problems, head[:200]))
            reliability.count("hostile-http", 1, bool(problems))
        # The server is still healthy afterwards.
        assert get(port, "/all.atom")[0] == 200
    reliability.count("hostile-http", 0, 0, f"{len(HOSTILE)} requests against granian")
    assert failures == []


def test_serves_cached_feeds_while_the_database_is_away(
    proxied_pg: tuple[str, Proxy], pg_url: str, tmp_path: Path
) -> None:
    url, proxy = proxied_pg
    with Store.open(pg_url) as store:
        ingest(store, SEED)
    with procfile_web(url, tmp_path, workers=1) as port:
        paths = ["/all.atom", "/ecogeo/en.rss", "/economy.json", "/feeds.opml", "/"]
        before = {path: get(port, path) for path in paths}
        assert all(status == 200 for status, _ in before.values())
        proxy.cut()
        time.sleep(1.5)  # past the once-a-second version check
        after = {path: get(port, path) for path in paths}
        health = get(port, "/healthz")
        proxy.restore()
        time.sleep(1.5)
        healed = get(port, "/healthz")
    assert after == before
    assert health[0] == 503
    assert healed[0] == 200
    reliability.count("faults", 1, 0, "database away while serving (cache kept serving)")


def test_web_workers_never_run_the_scheduler(tmp_path: Path, seed_dir: Path) -> None:
    """3 web workers and one `aggregator schedule` at 1 s: runs in the store == ticks."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(url).close()
    env = env_for(url, seed_dir, AGGREGATOR_REFRESH_INTERVAL="1s")
    with procfile_web(
        url, tmp_path, workers=3, AGGREGATOR_SEEDS=str(seed_dir), AGGREGATOR_REFRESH_INTERVAL="1s"
    ) as port:
        scheduler = aggregator("schedule", env=env, cwd=tmp_path)
        time.sleep(5.5)
        for _ in range(20):
            assert get(port, "/all.atom")[0] == 200
        scheduler.send_signal(signal.SIGTERM)
        out, err = scheduler.communicate(timeout=30)
    ticks = out.count("refresh: run=")
    with Store.open(url) as store:
        runs = store.count_runs("refresh")
    assert ticks >= 4, out + err
    assert runs == ticks


@pytest.mark.slow
def test_load_during_a_large_refresh(tmp_path: Path) -> None:
    """64 connections for 30 s while a 100,000-item digest is ingested: zero errors."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "seed.txt").write_bytes(SEED.read_bytes())
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url) as store:
        ingest(store, seeds)
    write_digest(seeds / "zz-big.txt", 100_000, agencies=40)
    with procfile_web(url, tmp_path, workers=2) as port:
        refresh = aggregator("refresh", env=env_for(url, seeds), cwd=tmp_path)
        checked: list[int] = [0, 0]  # responses parsed, malformed

        def sample() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status, body = get(port, "/all.atom")
                checked[0] += 1
                try:
                    ElementTree.fromstring(body)
                    ok = status == 200
                except ElementTree.ParseError:
                    ok = False
                checked[1] += not ok

        sampler = threading.Thread(target=sample)
        sampler.start()
        served, errors = run_load(port, "/all.atom", seconds=30, connections=64)
        sampler.join()
        out, err = refresh.communicate(timeout=600)
    assert refresh.returncode == 0, err
    assert "new=100000" in out
    total_errors = errors + checked[1]
    reliability.count(
        "load",
        served + checked[0],
        total_errors,
        "64 connections, 30 s, during a 100,000-item refresh",
    )
    assert total_errors == 0
    assert served > 1000


def run_load(port: int, path: str, *, seconds: int, connections: int) -> tuple[int, int]:
    """wrk when installed (requests, errors incl. non-2xx/3xx), else a threaded Python loop."""
    if shutil.which("wrk"):
        result = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
        served = int(re.search(r"(\d+) requests in", result.stdout)[1])  # type: ignore[index]
        errors = 0
        socket_errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", result.stdout
        )
        if socket_errors:
            errors += sum(int(n) for n in socket_errors.groups())
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
        if non_2xx:
            errors += int(non_2xx[1])
        return served, errors
    counts = [0, 0]
    lock = threading.Lock()

    def worker() -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                status, _ = get(port, path)
                good = status == 200
            except OSError:
                good = False
            with lock:
                counts[0] += 1
                counts[1] += not good

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts[0], counts[1]
