"""The three servers of the serving benchmark, each a child process on a free loopback port.

(a) the project's web process, started from the ``Procfile``'s ``web:`` line as a platform
runs it (``$PORT`` and ``${WEB_CONCURRENCY:-N}`` filled in, through ``sh -c``); (b) a Flask
view returning the same bytes under gunicorn with the same worker count; (c) nginx serving
the same bytes as a static file with the same worker count: the machine's practical ceiling.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchmarks.baseline_app import ENV as BASELINE_ENV
from benchmarks.pipeline import clean_env

FEED_PATH = "/all.atom"
_WORKERS = re.compile(r"\$\{WEB_CONCURRENCY:-(\d+)\}")
# Hop-by-hop and per-response headers a server sets itself.
_OWN_HEADERS = frozenset(
    {"content-length", "date", "server", "connection", "keep-alive", "transfer-encoding"}
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(slots=True)
class Running:
    """A server we started, in its own process group (stopped as a group, by its id)."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    workers: int
    command: str

    def url(self, path: str = FEED_PATH) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)

    def log_tail(self) -> str:
        try:
            return self.log.read_text("utf-8", "replace")[-3000:]
        except OSError:
            return ""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def fetch(url: str, headers: Mapping[str, str] | None = None, timeout: float = 30) -> Answer:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, list(response.getheaders()), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, list(error.headers.items()), error.read())


def _start(
    name: str,
    command: list[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    port: int,
    workers: int,
    timeout: float = 90,
) -> Running:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(name, process, port, log, workers, " ".join(command))
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{running.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return running
        except OSError:
            if time.monotonic() > deadline:
                running.stop()
                raise RuntimeError(f"{name} did not listen in {timeout:.0f} s") from None
            time.sleep(0.1)


# --- (a) the app, as the Procfile runs it -------------------------------------------------


def procfile_web(path: Path) -> str | None:
    """The ``web:`` command of a Procfile, if there is one."""
    if not path.is_file():
        return None
    for line in path.read_text("utf-8").splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web" and command.strip():
            return command.strip()
    return None


def procfile_workers(command: str) -> int:
    """The worker count the command gets with WEB_CONCURRENCY unset (its default)."""
    found = _WORKERS.search(command)
    return int(found[1]) if found else 1


def loopback_only(command: str) -> str:
    """The command listening on loopback instead of every interface."""
    return command.replace("0.0.0.0", "127.0.0.1").replace("[::]", "127.0.0.1")


def start_app(
    command: str, *, root: Path, database_url: str, seeds: Path, work: Path, workers: int
) -> Running:
    """The Procfile's ``web:`` command, run from the repository root as a platform would."""
    port = free_port()
    env = clean_env(
        AGGREGATOR_DATABASE_URL=database_url,
        AGGREGATOR_SEEDS=str(seeds),
        PORT=str(port),
        WEB_CONCURRENCY=str(workers),
    )
    return _start(
        "app",
        ["/bin/sh", "-c", "exec " + loopback_only(command)],
        env=env,
        cwd=root,
        log=work / "app.log",
        port=port,
        workers=workers,
    )


# --- the bytes every server returns ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedBytes:
    """One feed as the app serves it: both encodings, their headers and ETags."""

    body: bytes
    gzip_body: bytes
    plain_headers: list[tuple[str, str]]
    gzip_headers: list[tuple[str, str]]
    etag: str
    gzip_etag: str


def capture(app: Running) -> FeedBytes:
    plain = fetch(app.url())
    gzipped = fetch(app.url(), {"Accept-Encoding": "gzip"})
    if plain.status != 200 or gzipped.status != 200:
        raise RuntimeError(f"the app answered {plain.status}/{gzipped.status} for {FEED_PATH}")
    if (gzipped.header("Content-Encoding") or "").lower() != "gzip":
        raise RuntimeError("the app did not gzip its answer for Accept-Encoding: gzip")
    return FeedBytes(
        body=plain.body,
        gzip_body=gzipped.body,
        plain_headers=_own(plain.headers),
        gzip_headers=_own(gzipped.headers),
        etag=plain.header("ETag") or "",
        gzip_etag=gzipped.header("ETag") or "",
    )


def _own(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in _OWN_HEADERS]


# --- (b) the same bytes from a Flask view under gunicorn -----------------------------------


def start_flask(feed: FeedBytes, *, work: Path, workers: int, root: Path) -> Running:
    folder = work / "baseline"
    folder.mkdir(exist_ok=True)
    (folder / "body").write_bytes(feed.body)
    (folder / "body.gz").write_bytes(feed.gzip_body)
    spec = {
        "path": FEED_PATH,
        "plain_headers": feed.plain_headers,
        "gzip_headers": feed.gzip_headers,
        "etag": feed.etag,
        "gzip_etag": feed.gzip_etag,
    }
    (folder / "response.json").write_text(json.dumps(spec), "utf-8")
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "benchmarks.baseline_app:create_app()",
    ]
    env = clean_env(**{BASELINE_ENV: str(folder)})
    return _start(
        "flask", command, env=env, cwd=root, log=work / "flask.log", port=port, workers=workers
    )


# --- (c) nginx, the same bytes as a static file ---------------------------------------------


def nginx_path() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).is_file()), None
    )


def nginx_version() -> str | None:
    path = nginx_path()
    if path is None:
        return None
    done = subprocess.run([path, "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


_NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=64 inactive=60s;
    types {{ application/atom+xml atom; }}
    charset utf-8;
    charset_types application/atom+xml;
    etag on;
    gzip_static on;
    gzip_vary on;
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {folder}/root;
        add_header Cache-Control "{cache_control}";
    }}
}}
"""


def start_nginx(feed: FeedBytes, *, work: Path, workers: int) -> Running:
    path = nginx_path()
    if path is None:
        raise RuntimeError("nginx is not installed")
    folder = work / "nginx"
    (folder / "root").mkdir(parents=True, exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    target = folder / "root" / FEED_PATH.lstrip("/")
    target.write_bytes(feed.body)
    target.with_name(target.name + ".gz").write_bytes(feed.gzip_body)
    # Workers run as an unprivileged user when the master is root: they must read the files.
    for part in (work, folder, folder / "root"):
        part.chmod(0o755)
    for file in (folder / "root").iterdir():
        file.chmod(0o644)
    cache_control = dict((k.lower(), v) for k, v in feed.plain_headers).get(
        "cache-control", "public, max-age=300"
    )
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(
        _NGINX_CONF.format(workers=workers, folder=folder, port=port, cache_control=cache_control),
        "utf-8",
    )
    command = [path, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
    return _start(
        "nginx", command, env=clean_env(), cwd=folder, log=work / "nginx.log", port=port,
        workers=workers,
    )  # fmt: skip


# --- checks and warm-up ---------------------------------------------------------------------


def request_headers(running: Running) -> dict[str, dict[str, str]]:
    """The three requests measured against one server: the 304 uses that server's own ETag."""
    plain = fetch(running.url())
    etag = plain.header("ETag")
    if plain.status != 200 or not etag:
        raise RuntimeError(f"{running.name}: GET {FEED_PATH} gave {plain.status}, ETag {etag!r}")
    return {
        "plain": {},
        "etag": {"If-None-Match": etag},
        "gzip": {"Accept-Encoding": "gzip"},
    }


@dataclass(frozen=True, slots=True)
class Check:
    status: int
    encoding: str
    length: int
    same_bytes: bool

    def as_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "content_encoding": self.encoding,
            "length": self.length,
            "same_bytes": self.same_bytes,
        }


def check(running: Running, headers: Mapping[str, str], feed: FeedBytes) -> Check:
    """What one request of a kind gets: the status, encoding, and whether the bytes match."""
    answer = fetch(running.url(), headers)
    encoding = (answer.header("Content-Encoding") or "").lower()
    expected = b"" if answer.status == 304 else (feed.gzip_body if encoding else feed.body)
    return Check(answer.status, encoding, len(answer.body), answer.body == expected)


def warm(running: Running, kinds: Mapping[str, Mapping[str, str]], rounds: int = 40) -> None:
    """Every worker's cache filled for every kind: new connections land on any worker."""
    for _ in range(rounds):
        for headers in kinds.values():
            fetch(running.url(), headers)
