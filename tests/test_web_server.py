"""The app under real servers on 127.0.0.1: the Procfile's ``web:`` command (granian) and
gunicorn, started as subprocesses on a free port over a temporary SQLite store, spoken to
with ``http.client``; feedcheck judges the served Atom and RSS when Node.js is there."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

from aggregator.store import Store
from tests.conftest import ROOT, SEED
from tests.test_store import ingest, item_text

PROCFILE = ROOT / "Procfile"
FEEDCHECK = ROOT / "tools" / "feedcheck" / "feedcheck"
#: The README's gunicorn command, word for word.
GUNICORN = (
    "gunicorn --bind 0.0.0.0:$PORT --workers ${WEB_CONCURRENCY:-2} --threads 4 "
    "'aggregator.web:create_app()'"
)
ATOM = "{http://www.w3.org/2005/Atom}"
WORKERS = 2


def procfile_command(kind: str) -> str:
    for line in PROCFILE.read_text("utf-8").splitlines():
        name, _, command = line.partition(":")
        if name.strip() == kind:
            return command.strip()
    raise AssertionError(f"no {kind}: line in the Procfile")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    name: str
    port: int
    log: Path
    database_url: str

    def request(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> Answer:
        """One request on a new connection (so that several workers get their turn)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            found = {name.lower(): value for name, value in response.getheaders()}
            return Answer(response.status, found, body)
        finally:
            conn.close()


@contextmanager
def start(
    command: str,
    name: str,
    database_url: str,
    folder: Path,
    *,
    workers: int = WORKERS,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Runs ``command`` as the platform would (PORT and WEB_CONCURRENCY set, through sh),
    bound to the loopback address only, until the test module is done."""
    port = free_port()
    log = folder / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update(
        {
            "PORT": str(port),
            "WEB_CONCURRENCY": str(workers),
            "AGGREGATOR_DATABASE_URL": database_url,
            **(extra_env or {}),
        }
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["sh", "-c", "exec " + command.replace("0.0.0.0", "127.0.0.1")],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, port, log, database_url)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text()}")
            try:
                if server.request("/healthz").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{name} did not answer in 30 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def database_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{folder / 'store.db'}"
    store = Store.open(url)
    ingest(store, SEED)
    store.close()
    return url


@pytest.fixture(scope="module", params=["granian", "gunicorn"])
def server(
    request: pytest.FixtureRequest, database_file: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    command = procfile_command("web") if request.param == "granian" else GUNICORN
    folder = tmp_path_factory.mktemp(request.param)
    with start(command, request.param, database_file, folder) as server:
        yield server


def entries(body: bytes) -> int:
    return len(ElementTree.fromstring(body).findall(f"{ATOM}entry"))


def test_procfile_lines() -> None:
    web = procfile_command("web")
    assert web.startswith("granian --interface wsgi --factory ")
    assert "--port $PORT" in web
    assert "--workers ${WEB_CONCURRENCY:-2}" in web
    assert web.endswith(" aggregator.web:create_app")
    assert procfile_command("worker") == "aggregator schedule"


def test_feeds_over_http(server: Server) -> None:
    plain = server.request("/all.atom")
    assert plain.status == 200
    assert plain.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert plain.headers["vary"] == "Accept-Encoding"
    assert plain.headers["access-control-allow-origin"] == "*"
    assert entries(plain.body) >= 20
    self_link = ElementTree.fromstring(plain.body).find(f"{ATOM}link[@rel='self']")
    assert self_link is not None
    assert self_link.get("href") == f"http://127.0.0.1:{server.port}/all.atom"
    packed = server.request("/all.atom", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed.body) == plain.body
    etag = plain.headers["etag"]
    for _ in range(2 * WORKERS):  # every worker answers 304, cached or not
        again = server.request("/all.atom", headers={"If-None-Match": etag})
        assert again.status == 304
        assert again.body == b""
    head = server.request("/all.atom", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(plain.body))
    assert server.request("/all.rss").headers["content-type"] == (
        "application/rss+xml; charset=utf-8"
    )
    assert json.loads(server.request("/ecogeo/en.json").body)["items"]


def test_errors_over_http(server: Server) -> None:
    for path in ("/../etc/passwd", "/%2e%2e/x.atom", "/a%2Fb.atom", "/" + "x" * 300 + ".atom"):
        answer = server.request(path)
        assert answer.status in (400, 404), path
        assert b"root:" not in answer.body
    bad = server.request("/all.atom?limit=0")
    assert bad.status == 400
    assert bad.body == b"limit must be an integer from 1 to 500\n"
    health = server.request("/healthz")
    assert json.loads(health.body)["items"] >= 20
    metrics = server.request("/metrics").body.decode()
    assert "govkz_http_requests_total" in metrics


def test_access_log_on_stdout(server: Server) -> None:
    server.request("/all.json?token=secret-value")
    deadline = time.monotonic() + 5
    pattern = re.compile(
        r'^127\.0\.0\.1 - - \[[^]]+\] "GET /all\.json\?token=\[redacted\] HTTP/1\.1" 200 \d+ '
        r'"-" "[^"]*"$',
        re.MULTILINE,
    )
    while not pattern.search(server.log.read_text("utf-8", "replace")):
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.1)
    assert "secret-value" not in server.log.read_text("utf-8", "replace")


def test_a_refresh_reaches_every_worker_within_a_second(server: Server) -> None:
    before = entries(server.request("/all.atom?limit=500").body)
    news_id = 990_000 + server.port % 1000
    seeds = Path(server.log.parent / "more")
    seeds.mkdir(exist_ok=True)
    digest = seeds / f"{server.name}.txt"
    digest.write_text(item_text(f"Served news {server.name}", news_id), encoding="utf-8")
    store = Store.open(server.database_url)
    try:
        ingest(store, digest, clock=1_800_000_500.0)
    finally:
        store.close()
    time.sleep(1.2)
    counts = {entries(server.request("/all.atom?limit=500").body) for _ in range(6 * WORKERS)}
    assert counts == {before + 1}


def test_feedcheck_judges_the_served_feeds(server: Server) -> None:
    if server.name != "granian":
        pytest.skip("feedcheck runs once, against the Procfile's server")
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"feedcheck needs {' and '.join(missing)}, not installed")
    failures = []
    for path in ("/all.atom", "/all.rss", "/ecogeo/en.atom?limit=3"):
        url = f"http://127.0.0.1:{server.port}{path}"
        done = subprocess.run(
            [str(FEEDCHECK), url], capture_output=True, text=True, timeout=300, check=False
        )
        passed = set(re.findall(r"^PASS\s+(\S+)", done.stdout, re.MULTILINE))
        expected = {"xml-wellformed", "feedparser", "rss-parser", "cross-parser-agreement"}
        if done.returncode != 0 or "FAIL" in done.stdout or not expected <= passed:
            failures.append(f"{url} (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    assert not failures, "\n".join(failures)


def test_serve_forever_runs_granian(
    database_file: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What ``aggregator serve`` calls: granian as a child process on the app factory."""
    folder = tmp_path_factory.mktemp("embedded")
    command = (
        f"{shlex.quote(sys.executable)} -c 'from aggregator.web.server import serve_forever; "
        'import os; serve_forever(host="127.0.0.1", port=int(os.environ["PORT"]), workers=1)\''
    )
    with start(command, "embedded", database_file, folder) as server:
        answer = server.request("/all.atom", headers={"Accept-Encoding": "gzip"})
        assert answer.status == 200
        assert answer.headers["content-encoding"] == "gzip"
