"""The web app through Flask's test client: routes, HTTP caching, negotiation, errors,
security headers, the render cache and its hot path, health, metrics and the access log.

Stores are real (the shipped seed ingested into SQLite, and PostgreSQL when
AGGREGATOR_TEST_POSTGRES_URL is set); a database "going away" is a real one: the SQLite
file overwritten, or a store pointed at a closed PostgreSQL port.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from types import MappingProxyType
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from aggregator import render
from aggregator.build import outputs
from aggregator.settings import Settings
from aggregator.store import Store
from aggregator.web import create_app
from aggregator.web.cache import ResponseCache, VersionWatcher, make_ready
from aggregator.web.protocol import (
    accepts_gzip,
    not_modified,
    parse_rfc3339,
    query_key,
    redact_query,
    ui_language,
)
from aggregator.web.state import WebState
from tests.conftest import SEED
from tests.test_store import ingest, item_text

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "http://127.0.0.1:8000/"
DEAD_PG = "postgresql://postgres@127.0.0.1:9/nothing"
CSP_PAGE = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
COMBINED = re.compile(
    r"^(?P<host>\S+) - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<size>\d+|-) '
    r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)"$'
)
FEED_PATHS = (
    "/all.atom",
    "/all.rss",
    "/all.json",
    "/all/en.atom",
    "/all/ru.rss",
    "/all/kk.json",
    "/ecogeo.atom",
    "/ecogeo/en.rss",
    "/economy/ru.json",
    "/almaty/en.atom",
)


# --------------------------------------------------------------------------- fixtures


def make_app(store: Store, **changes: object) -> Flask:
    app = create_app(Settings(database_url="sqlite://").with_changes(**changes), store=store)
    app.testing = True
    return app


def state_of(app: Flask) -> WebState:
    found = app.extensions["aggregator"]
    assert isinstance(found, WebState)
    return found


def misses(app: Flask) -> float:
    return state_of(app).metrics.counter_value("govkz_render_cache_misses_total")


def hits(app: Flask) -> float:
    return state_of(app).metrics.counter_value("govkz_render_cache_hits_total")


def extra_digest(folder: Path, name: str, *items: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(items), encoding="utf-8")
    return path


def atom_ids(body: bytes) -> list[str]:
    root = ElementTree.fromstring(body)
    return [entry.findtext(f"{ATOM}id") or "" for entry in root.findall(f"{ATOM}entry")]


def atom_link(body: bytes, rel: str) -> str | None:
    link = ElementTree.fromstring(body).find(f"{ATOM}link[@rel='{rel}']")
    return link.get("href") if link is not None else None


def relative(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def seeded(store: Store, seed_dir: Path) -> Store:
    """The shipped seed in a store on each backend (20 items, 3 agencies)."""
    ingest(store, seed_dir)
    return store


@pytest.fixture
def app(seeded: Store) -> Flask:
    return make_app(seeded)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A read-only seeded SQLite store shared by the tests that never change it."""
    folder = tmp_path_factory.mktemp("shared")
    store = Store.open(f"sqlite:///{folder / 'store.db'}")
    ingest(store, SEED)
    yield store
    store.close()


@pytest.fixture
def sclient(shared_store: Store) -> FlaskClient:
    return make_app(shared_store).test_client()


# --------------------------------------------------------------------------- routes


def test_every_route_and_content_type(client: FlaskClient) -> None:
    expected = {
        "/": "text/html; charset=utf-8",
        "/index.html": "text/html; charset=utf-8",
        "/icon.svg": "image/svg+xml",
        "/feeds.opml": "text/x-opml; charset=utf-8",
        "/embed/all": "text/html; charset=utf-8",
        "/embed/ecogeo/ru": "text/html; charset=utf-8",
        "/healthz": "application/json",
    }
    for path in FEED_PATHS:
        expected[path] = render.FORMATS[path.rsplit(".", 1)[1]].content_type
    for path, content_type in expected.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Type"] == content_type, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert render.FORMATS["atom"].content_type == "application/atom+xml; charset=utf-8"
    assert render.FORMATS["rss"].content_type == "application/rss+xml; charset=utf-8"
    assert render.FORMATS["json"].content_type == "application/feed+json; charset=utf-8"


def test_same_bytes_as_the_static_build(seeded: Store) -> None:
    """With the same base URL, every file of the static build is served byte for byte."""
    client = make_app(seeded, base_url=BASE).test_client()
    files = dict(outputs(seeded, base_url=BASE, feed_size=50))
    assert len(files) == 4 * 4 * 3 + 3
    for relative_path, data in files.items():
        response = client.get("/" + relative_path)
        assert response.status_code == 200, relative_path
        assert response.data == data, relative_path


def test_unknown_agency_is_404_known_agency_empty_language_is_200(client: FlaskClient) -> None:
    for path in ("/nosuch.atom", "/nosuch/en.rss", "/embed/nosuch", "/embed/nosuch/ru"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    for path in ("/all/xx.atom", "/ecogeo/de.json", "/embed/all/de", "/ecogeo.xml"):
        assert client.get(path).status_code == 404, path
    empty = client.get("/economy/en.atom")
    assert empty.status_code == 200
    root = ElementTree.fromstring(empty.data)
    assert root.tag == f"{ATOM}feed"
    assert root.findall(f"{ATOM}entry") == []
    assert json.loads(client.get("/economy/kk.json").data)["items"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/../etc/passwd",
        "/%2e%2e/x.atom",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/a%2Fb.atom",
        "/..%2f..%2fetc%2fpasswd.atom",
        "/" + "a" * 300 + ".atom",
        "/" + "a" * 300 + "/en.atom",
        "/embed/" + "a" * 300,
        "/ALL.atom",
        "/all.atom/",
        "/.atom",
        "/-x.atom",
        "/embed/..",
        "/static/../../etc/passwd",
        "/aggregator/web/__init__.py",
        "/%00.atom",
        "/%ff.atom",
    ],
)
def test_path_tricks_are_404(sclient: FlaskClient, path: str) -> None:
    response = sclient.get(path)
    assert response.status_code == 404, path
    assert b"root:" not in response.data
    assert response.data.count(b"\n") == 1


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("limit=%205", "limit"),
        ("before=garbage", "before"),
        ("before=2025-02-14", "before"),
        ("before=2025-02-14T00:00:00", "before"),
        ("before=2025-13-01T00:00:00Z", "before"),
        ("before=" + "9" * 100, "before"),
        ("q=" + "x" * 201, "q"),
        ("q=a%00b", "q"),
        ("skip=1", "skip"),
        ("before=2025-02-14T00:00:00Z&skip=x", "skip"),
        ("before=2025-02-14T00:00:00Z&skip=-1", "skip"),
        ("q=%ff", "query string"),
    ],
)
def test_bad_feed_parameters_are_400_with_a_reason(
    sclient: FlaskClient, query: str, reason: str
) -> None:
    response = sclient.get(f"/all.atom?{query}")
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    text = response.get_data(as_text=True)
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert reason in text


@pytest.mark.parametrize("query", ["n=0", "n=51", "n=x", "theme=blue", "theme="])
def test_bad_embed_parameters_are_400(sclient: FlaskClient, query: str) -> None:
    response = sclient.get(f"/embed/all?{query}")
    assert response.status_code == 400
    assert response.get_data(as_text=True).count("\n") == 1


def test_good_edge_parameters_and_unknown_ones(sclient: FlaskClient) -> None:
    for query in (
        "limit=1",
        "limit=500",
        "q=" + "x" * 200,
        "q=",
        "before=2025-02-14T00:00:00Z",
        "before=2025-02-14T00:00:00+05:00",  # the unencoded "+" arrives as a space
        "before=2025-02-14T00:00:00%2B05:00&skip=0",
        "utm_source=x&token=secret&limit=5&limit=abc",
        "before=9999-12-31T23:59:59-23:59",
        "before=0001-01-01T00:00:00%2B14:00",
    ):
        assert sclient.get(f"/all.atom?{query}").status_code == 200, query
    assert len(atom_ids(sclient.get("/all.atom?limit=5&utm=1").data)) == 5
    assert len(atom_ids(sclient.get("/all.atom?before=0001-01-01T00:00:00Z").data)) == 0


def test_query_filter_is_case_insensitive_in_every_language(sclient: FlaskClient) -> None:
    everything = atom_ids(sclient.get("/all.atom?limit=500").data)
    playground = atom_ids(sclient.get("/all.atom?q=PLAYGROUND").data)
    assert 0 < len(playground) < len(everything)
    turkestan = sclient.get("/all.atom?q=" + quote("туркестан")).data
    assert len(atom_ids(turkestan)) >= 1
    assert all("economy" in entry for entry in atom_ids(turkestan))
    assert atom_ids(sclient.get("/all.atom?q=zzzznotthere").data) == []
    self_link = atom_link(turkestan, "self")
    assert self_link is not None
    assert "q=%D1%82%D1%83" in self_link


def test_paging_walks_every_entry_once(client: FlaskClient) -> None:
    """Pages of 3 across groups of equal (midnight) times: no entry lost or repeated."""
    everything = atom_ids(client.get("/all.atom?limit=500").data)
    assert len(everything) == 20
    seen: list[str] = []
    path: str | None = "/all.atom?limit=3"
    pages = 0
    while path is not None:
        body = client.get(path).data
        seen += atom_ids(body)
        following = atom_link(body, "next")
        if following is not None:
            assert "limit=3" in following
            assert "before=" in following
            assert "skip=" in following
            assert following.startswith("http://localhost/all.atom?")
        path = relative(following) if following else None
        pages += 1
        assert pages < 20
    assert seen == everything
    assert pages == 7
    single = client.get("/all.atom").data
    assert atom_link(single, "next") is None  # 20 items fit in one default page


def test_paging_in_json_and_rss_and_with_q(client: FlaskClient) -> None:
    first = json.loads(client.get("/all/en.json?limit=4&q=the").data)
    assert first["next_url"].startswith("http://localhost/all/en.json?limit=4&q=the&before=")
    seen = [item["id"] for item in first["items"]]
    url = first["next_url"]
    while url:
        page = json.loads(client.get(relative(url)).data)
        seen += [item["id"] for item in page["items"]]
        url = page.get("next_url")
    expected = [item["id"] for item in json.loads(client.get("/all/en.json?q=the").data)["items"]]
    assert seen == expected
    assert len(seen) > 4
    rss = ElementTree.fromstring(client.get("/all.rss?limit=2").data)
    nexts = [link for link in rss.iter(f"{ATOM}link") if link.get("rel") == "next"]
    assert len(nexts) == 1


# --------------------------------------------------------------------------- HTTP caching


def test_etag_last_modified_and_304(client: FlaskClient) -> None:
    first = client.get("/ecogeo.atom")
    etag = first.headers["ETag"]
    modified = first.headers["Last-Modified"]
    assert re.fullmatch(r'"[0-9a-f]{24}"', etag)  # strong
    assert modified == "Thu, 13 Feb 2025 19:00:00 GMT"  # the newest entry: 14.02.2025 Almaty
    later = formatdate(parsedate_to_datetime(modified).timestamp() + 3600, usegmt=True)
    earlier = formatdate(parsedate_to_datetime(modified).timestamp() - 1, usegmt=True)
    cases = [
        ({"If-None-Match": etag}, 304),
        ({"If-None-Match": f"W/{etag}"}, 304),
        ({"If-None-Match": f'"nope", {etag}'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"nope"'}, 200),
        ({"If-None-Match": "garbage"}, 200),
        ({"If-Modified-Since": modified}, 304),
        ({"If-Modified-Since": later}, 304),
        ({"If-Modified-Since": earlier}, 200),
        ({"If-Modified-Since": "not a date"}, 200),
        # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2), both ways.
        ({"If-None-Match": '"nope"', "If-Modified-Since": later}, 200),
        ({"If-None-Match": etag, "If-Modified-Since": earlier}, 304),
    ]
    for headers, status in cases:
        response = client.get("/ecogeo.atom", headers=headers)
        assert response.status_code == status, headers
        if status == 304:
            assert response.data == b""
            assert response.headers["ETag"] == etag
            assert response.headers["Cache-Control"] == "public, max-age=300"
            assert response.headers["Vary"] == "Accept-Encoding"
        else:
            assert response.data == first.data


def test_conditional_answer_on_a_cold_cache(seeded: Store) -> None:
    """The first request of a fresh process may already be conditional."""
    etag = make_app(seeded).test_client().get("/all.rss").headers["ETag"]
    fresh = make_app(seeded)
    response = fresh.test_client().get("/all.rss", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert misses(fresh) == 1


def test_gzip_once_per_version_with_its_own_etag(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = gzip.compress

    def counting(data: bytes, *args: object, **kwargs: object) -> bytes:
        calls.append(len(data))
        return original(data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("aggregator.web.cache.gzip.compress", counting)
    plain = client.get("/all.atom")
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["Vary"] == "Accept-Encoding"
    for _ in range(5):
        packed = client.get("/all.atom", headers={"Accept-Encoding": "gzip, deflate, br"})
        assert packed.headers["Content-Encoding"] == "gzip"
        assert packed.headers["Vary"] == "Accept-Encoding"
        assert gzip.decompress(packed.data) == plain.data
        assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data)
    assert len(calls) == 1
    assert packed.headers["ETag"] == plain.headers["ETag"][:-1] + '-gz"'
    conditional = client.get(
        "/all.atom",
        headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]},
    )
    assert conditional.status_code == 304
    assert conditional.headers["ETag"] == packed.headers["ETag"]
    # The identity tag does not validate the gzip representation and the other way round.
    mixed = client.get("/all.atom", headers={"If-None-Match": packed.headers["ETag"]})
    assert mixed.status_code == 200
    for header, encoded in [("gzip;q=0", False), ("*", True), ("identity", False), ("", False)]:
        response = client.get("/all.atom", headers={"Accept-Encoding": header})
        assert ("Content-Encoding" in response.headers) is encoded, header


def test_cache_control_cors_and_head(seeded: Store) -> None:
    client = make_app(seeded, cache_max_age=123).test_client()
    for path in (*FEED_PATHS, "/feeds.opml"):
        get = client.get(path)
        assert get.headers["Cache-Control"] == "public, max-age=123"
        assert get.headers["Access-Control-Allow-Origin"] == "*"
        head = client.head(path)
        assert head.status_code == 200
        assert head.data == b""
        assert dict(head.headers) == dict(get.headers)
    assert client.get("/healthz").headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in client.get("/").headers
    cold = make_app(seeded).test_client().head("/all.json", headers={"Accept-Encoding": "gzip"})
    assert cold.status_code == 200
    assert cold.data == b""
    assert int(cold.headers["Content-Length"]) > 0
    preflight = client.options(
        "/all.atom",
        headers={"Origin": "https://reader.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert "If-None-Match" in preflight.headers["Access-Control-Allow-Headers"]


def test_hot_and_cold_answers_are_identical(seeded: Store) -> None:
    for headers in ({}, {"Accept-Encoding": "gzip"}):
        cold = make_app(seeded).test_client().get("/all/en.rss", headers=headers)
        app = make_app(seeded)
        client = app.test_client()
        client.get("/all/en.rss")
        hot = client.get("/all/en.rss", headers=headers)
        assert hits(app) == 1
        assert hot.data == cold.data
        assert dict(hot.headers) == dict(cold.headers)


def test_method_not_allowed_is_plain(sclient: FlaskClient) -> None:
    response = sclient.post("/all.atom")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


# --------------------------------------------------------------------------- render cache


def test_cached_feeds_are_not_rendered_again(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders: list[str] = []

    def counted(extension: str, fmt: render.FeedFormat) -> render.FeedFormat:
        def rendering(doc: render.FeedDoc) -> bytes:
            renders.append(extension)
            return fmt.render(doc)

        return render.FeedFormat(fmt.content_type, rendering)

    counting = {ext: counted(ext, fmt) for ext, fmt in render.FORMATS.items()}
    monkeypatch.setattr(render, "FORMATS", MappingProxyType(counting))
    for _ in range(10):
        assert client.get("/all.atom").status_code == 200
        assert client.get("/all.atom?utm_campaign=x&limit=50&q=").status_code == 200
        client.get("/all.atom", headers={"If-None-Match": '"x"', "Accept-Encoding": "gzip"})
        client.head("/all.json")
    assert renders == ["atom", "atom", "json"]  # "limit=50" is another key than no limit
    assert misses(app) == 3
    assert hits(app) == 37


def test_only_successful_renders_are_cached(app: Flask, client: FlaskClient) -> None:
    state = state_of(app)
    for path in ("/nosuch.atom", "/all.atom?limit=0", "/all/xx.atom", "/embed/all?n=0"):
        client.get(path)
    assert len(state.cache) == 0
    client.get("/all.atom")
    assert len(state.cache) == 1


def test_q_variations_cannot_exhaust_memory(app: Flask, client: FlaskClient) -> None:
    state = state_of(app)
    state.cache.max_entries = 5
    for number in range(30):
        assert client.get(f"/all.atom?q=word{number}").status_code == 200
    assert len(state.cache) == 5
    state.cache.max_bytes = 20_000
    for number in range(5):
        client.get(f"/all.atom?limit=500&q=the{number}")
    assert state.cache.bytes <= 20_000


def test_concurrent_misses_render_once(app: Flask) -> None:
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def fetch() -> None:
        barrier.wait()
        statuses.append(Client(app).get("/all.rss").status_code)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert misses(app) == 1


def test_a_refresh_is_visible_within_a_second(
    app: Flask, client: FlaskClient, seeded: Store, tmp_path: Path
) -> None:
    before = client.get("/ecogeo.atom")
    assert len(atom_ids(before.data)) == 9
    digest = extra_digest(tmp_path / "more", "001.txt", item_text("Fresh news", 990001))
    ingest(seeded, digest, clock=1_800_000_100.0)
    changed_at = time.monotonic()
    while True:
        response = client.get("/ecogeo.atom", headers={"If-None-Match": before.headers["ETag"]})
        if response.status_code == 200:
            break
        assert time.monotonic() - changed_at < 1.5, "the new version was not seen in time"
        time.sleep(0.05)
    assert len(atom_ids(response.data)) == 10
    assert response.headers["ETag"] != before.headers["ETag"]
    assert misses(app) == 2


def test_no_database_connection_for_cached_answers(app: Flask, seeded: Store) -> None:
    client = app.test_client()
    client.get("/all.atom")
    state_of(app).watcher.interval = 3600  # inside one version-check interval
    checkouts: list[object] = []

    def checkout(*args: object) -> None:
        checkouts.append(args)

    sa.event.listen(seeded.engine, "checkout", checkout)
    try:
        for _ in range(50):
            assert client.get("/all.atom", headers={"Accept-Encoding": "gzip"}).status_code == 200
        assert checkouts == []
        client.get("/all.rss")  # a miss does use the pool: the listener is live
        assert checkouts
    finally:
        sa.event.remove(seeded.engine, "checkout", checkout)


# --------------------------------------------------------------------------- database down


def break_database(store: Store) -> None:
    """The database goes away: SQLite's file is overwritten; PostgreSQL's URL is pointed at
    a closed port (the server itself is shared by the test run)."""
    database = store.engine.url.database or ""
    store.engine.dispose()
    if store.dialect == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(database + suffix).unlink(missing_ok=True)
        Path(database).write_bytes(b"this is not a database" * 100)
    else:
        store.engine = Store.open(DEAD_PG, migrate=False).engine


def test_cached_feeds_survive_the_database_going_away(app: Flask, seeded: Store) -> None:
    client = app.test_client()
    good = client.get("/all.atom")
    assert client.get("/healthz").status_code == 200
    break_database(seeded)
    state_of(app).watcher.interval = 0  # check the version on every request
    again = client.get("/all.atom")
    assert again.status_code == 200
    assert again.data == good.data
    assert state_of(app).watcher.reachable is False
    assert (
        client.get("/all.atom", headers={"If-None-Match": good.headers["ETag"]}).status_code == 304
    )
    uncached = client.get("/all.rss")
    assert uncached.status_code == 503
    assert uncached.headers["Retry-After"] == "30"
    assert uncached.get_data(as_text=True) == "the database is unavailable\n"
    health = client.get("/healthz")
    assert health.status_code == 503
    assert json.loads(health.data)["database"] == "unreachable"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "govkz_database_up 0.0" in metrics


def test_healthz(app: Flask, client: FlaskClient, seeded: Store) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = json.loads(response.data)
    assert body["status"] == "ok"
    assert body["database"] == "reachable"
    assert body["items"] == 20
    assert body["last_refresh"] is None
    run = seeded.begin_run("refresh", 1_800_000_000)
    seeded.finish_run(run, outcome="ok", now=1_800_000_042, duration_ms=1500)
    body = json.loads(client.get("/healthz").data)
    assert body["last_refresh"] == "2027-01-15T08:00:42+00:00"


def test_healthz_503_and_app_starts_when_the_database_is_unreachable() -> None:
    dead = Store.open(DEAD_PG, migrate=False)
    client = make_app(dead).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.data) == {"status": "unavailable", "database": "unreachable"}
    assert client.get("/all.atom").status_code == 503
    started = create_app(Settings(database_url=DEAD_PG)).test_client()
    assert started.get("/healthz").status_code == 503


def test_create_app_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, shared_store: Store
) -> None:
    url = shared_store.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("AGGREGATOR_DATABASE_URL", url)
    monkeypatch.setenv("AGGREGATOR_CACHE_MAX_AGE", "77")
    app = create_app()
    assert state_of(app).settings.cache_max_age == 77
    response = app.test_client().get("/all.atom")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=77"
    state_of(app).store.close()


# --------------------------------------------------------------------------- base URL


def test_base_url_setting_wins_over_host_and_proxy_headers(shared_store: Store) -> None:
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "proxy.example",
        "X-Forwarded-Prefix": "/p",
    }
    client = make_app(
        shared_store, base_url="https://feeds.example.org/gov/", trust_proxy=True
    ).test_client()
    body = client.get("/all.atom", headers=forwarded).data
    assert atom_link(body, "self") == "https://feeds.example.org/gov/all.atom"
    opml = client.get("/feeds.opml").get_data(as_text=True)
    assert 'xmlUrl="https://feeds.example.org/gov/ecogeo/en.atom"' in opml


def test_base_url_from_the_request_and_trusted_proxy(shared_store: Store) -> None:
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "proxy.example",
        "X-Forwarded-Prefix": "/feeds",
    }
    untrusting = make_app(shared_store).test_client()
    assert atom_link(untrusting.get("/all.atom").data, "self") == "http://localhost/all.atom"
    body = untrusting.get("/all.atom", headers={"Host": "Feeds.Example:8080", **forwarded}).data
    assert atom_link(body, "self") == "http://feeds.example:8080/all.atom"
    trusting = make_app(shared_store, trust_proxy=True).test_client()
    body = trusting.get("/all.atom", headers=forwarded).data
    assert atom_link(body, "self") == "https://proxy.example/feeds/all.atom"
    # The cache key holds the base URL: another host is not served the first host's bytes.
    assert atom_link(trusting.get("/all.atom").data, "self") == "http://localhost/all.atom"
    for host in ('evil"host', "a b", "x/y", "[::1"):
        assert untrusting.get("/all.atom", headers={"Host": host}).status_code == 400


# --------------------------------------------------------------------------- HTML pages


def test_security_headers(sclient: FlaskClient) -> None:
    for path in ("/", "/index.html"):
        page = sclient.get(path)
        assert page.headers["Content-Security-Policy"] == CSP_PAGE
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Referrer-Policy"] == "no-referrer"
    widget = sclient.get("/embed/all")
    assert widget.headers["Content-Security-Policy"].endswith("frame-ancestors *")
    assert "X-Frame-Options" not in widget.headers
    assert widget.headers["Referrer-Policy"] == "no-referrer"
    for path in ("/", "/embed/all", "/all.atom", "/nosuch.atom", "/all.atom?limit=0",
                 "/healthz", "/metrics", "/icon.svg", "/feeds.opml"):  # fmt: skip
        assert sclient.get(path).headers["X-Content-Type-Options"] == "nosniff", path


def test_index_lists_agencies_and_feeds(sclient: FlaskClient) -> None:
    page = sclient.get("/").get_data(as_text=True)
    for slug in ("ecogeo", "economy", "almaty"):
        assert f'href="{slug}/en.atom"' in page
    assert 'href="feeds.opml"' in page
    assert "<script" not in page


def test_embed_widget(sclient: FlaskClient) -> None:
    two = sclient.get("/embed/ecogeo?n=2").get_data(as_text=True)
    assert two.count("<li ") == 2
    assert '<html lang="en">' in two
    assert "February 2025" in two
    dark = sclient.get("/embed/ecogeo?theme=dark").get_data(as_text=True)
    assert "--bg:#0d1117" in dark
    assert dark.count("<li ") == 9
    russian = sclient.get("/embed/all", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert '<html lang="ru">' in russian.get_data(as_text=True)
    assert "февраля" in russian.get_data(as_text=True)
    assert "Accept-Language" in russian.headers["Vary"]
    kazakh = sclient.get("/embed/all", headers={"Accept-Language": "kk"}).get_data(as_text=True)
    assert '<html lang="kk">' in kazakh
    assert "ақпан" in kazakh
    english = sclient.get("/embed/all", headers={"Accept-Language": "de, fr;q=0.5"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    in_path = sclient.get("/embed/economy/ru", headers={"Accept-Language": "en"})
    assert '<html lang="ru">' in in_path.get_data(as_text=True)
    assert in_path.headers["Vary"] == "Accept-Encoding"
    assert sclient.get("/embed/economy/kk").get_data(as_text=True).count("<li ") == 0


# --------------------------------------------------------------------------- metrics, log


def test_metrics(app: Flask, client: FlaskClient, seeded: Store) -> None:
    client.get("/all.atom")
    client.get("/all.atom")
    client.get("/all.atom", headers={"If-None-Match": "*"})
    client.get("/nosuch.atom")
    run = seeded.begin_run("refresh", 1_800_000_000)
    seeded.finish_run(run, outcome="ok", now=1_800_000_002, duration_ms=2500)
    response = client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = response.get_data(as_text=True)
    assert 'govkz_http_requests_total{route="feed",status="200"} 2.0' in text
    assert 'govkz_http_requests_total{route="feed",status="304"} 1.0' in text
    assert 'govkz_http_requests_total{route="feed",status="404"} 1.0' in text
    assert "govkz_render_cache_hits_total 2.0" in text
    assert "govkz_render_cache_misses_total 1.0" in text
    assert "govkz_items_stored 20.0" in text
    assert "govkz_last_refresh_timestamp_seconds 1.800000002e+09" in text
    assert "govkz_last_refresh_duration_seconds 2.5" in text
    other = make_app(seeded).test_client().get("/metrics").get_data(as_text=True)
    assert "govkz_render_cache_misses_total 0.0" in other  # a registry per app


def test_access_log_one_combined_line_per_request(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.get("/all.atom", headers={"User-Agent": 'Reader "1"', "Referer": "https://r.example/"})
    client.get("/all.atom", headers={"Authorization": "Bearer hunter2"})  # hot path
    client.head("/all.atom?token=hunter2&limit=5")
    client.get("/nosuch.atom?token=hunter2")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    parsed = [COMBINED.match(line) for line in lines]
    assert all(parsed), lines
    first = parsed[0]
    assert first is not None
    assert first["request"] == "GET /all.atom HTTP/1.1"
    assert first["status"] == "200"
    assert first["size"].isdigit()
    assert first["agent"] == 'Reader \\"1\\"'
    assert first["referer"] == "https://r.example/"
    assert "hunter2" not in "\n".join(lines)
    assert "token=[redacted]&limit=5" in lines[2]
    assert parsed[2] is not None
    assert parsed[2]["size"] == "-"
    assert parsed[3] is not None
    assert parsed[3]["status"] == "404"


# --------------------------------------------------------------------------- no 500s


@pytest.fixture(scope="module")
def fuzz_client(shared_store: Store) -> FlaskClient:
    return make_app(shared_store).test_client()


QUERY_NAMES = st.sampled_from(["limit", "q", "before", "skip", "n", "theme", "token", "x"])
QUERY_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["0", "500", "501", "2025-02-14T00:00:00Z", "-1", "", "%", "+05:00"]),
    st.integers(-10, 10**12).map(str),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/all.atom", "/ecogeo/en.rss", "/embed/all", "/", "/feeds.opml"]),
    params=st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=4),
    raw_tail=st.text(alphabet="%&=+;/?#.x", max_size=8),
    header=st.sampled_from(
        ["If-None-Match", "If-Modified-Since", "Accept-Encoding", "Accept-Language", "Host"]
    ),
    header_value=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)
def test_no_input_makes_a_500(
    fuzz_client: FlaskClient,
    path: str,
    params: list[tuple[str, str]],
    raw_tail: str,
    header: str,
    header_value: str,
) -> None:
    query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params) + raw_tail
    response = fuzz_client.get(f"{path}?{query}", headers={header: header_value})
    assert response.status_code in (200, 304, 400, 404), (path, query, header, header_value)


# --------------------------------------------------------------------------- pure parts


def test_protocol_helpers() -> None:
    assert query_key("b=1&limit=5&q=x&limit=6&utm=1") == (("limit", "5"), ("q", "x"))
    assert query_key("q=%ff") is None
    assert query_key("&".join(f"x{n}=1" for n in range(100))) is None
    assert accepts_gzip("gzip")
    assert accepts_gzip("br;q=1.0, gzip;q=0.8, *;q=0.1")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("*;q=0")
    assert not accepts_gzip("")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0, *")
    assert ui_language("ru-RU,ru;q=0.9,en-US;q=0.8") == "ru"
    assert ui_language("en;q=0.5, kk;q=0.7") == "kk"
    assert ui_language("kk;q=0, fr") == "en"
    assert ui_language("ru;q=abc, en") == "en"
    assert not_modified('"a"', 100, '"b", W/"a"', None)
    assert not not_modified('"a"', 100, '"a', None)
    assert not not_modified('"a"', 100, "", formatdate(200, usegmt=True))
    assert not_modified('"a"', 100, None, formatdate(100, usegmt=True))
    assert not not_modified('"a"', 100, None, formatdate(99, usegmt=True))
    assert parse_rfc3339("2025-02-14T00:00:00 05:00").utcoffset() is not None
    assert redact_query("a=1&TOKEN=s&token=t;token=u") == (
        "a=1&TOKEN=[redacted]&token=[redacted];token=[redacted]"
    )


def test_response_cache_bounds_and_versions() -> None:
    cache = ResponseCache(max_entries=3, max_bytes=10_000)
    ready = make_ready("feed", b"x" * 100, content_type="text/plain", last_modified=0, max_age=1)
    assert not cache.put("a", ready, 1)  # no version seen yet
    cache.reset(1)
    for key in "abcd":
        assert cache.put(key, ready, 1)
    assert len(cache) == 3
    assert cache.get("a") is None
    cache.get("b")
    cache.put("e", ready, 1)
    assert cache.get("b") is not None
    assert cache.get("c") is None
    assert not cache.put("f", ready, 0)  # rendered for an older version
    big = make_ready("feed", bytes(range(256)) * 50, content_type="x", last_modified=0, max_age=1)
    assert not cache.put("big", big, 1)
    cache.reset(2)
    assert len(cache) == 0
    assert cache.bytes == 0


def test_version_watcher_checks_once_per_interval_and_keeps_cache_on_failure() -> None:
    from aggregator.errors import StoreError

    now = [0.0]
    reads: list[int] = []
    versions = iter([1, 1, 2])

    def read() -> int:
        reads.append(1)
        value = next(versions, None)
        if value is None:
            raise StoreError("down")
        return value

    cache = ResponseCache()
    watcher = VersionWatcher(read, cache, interval=1.0, clock=lambda: now[0])
    ready = make_ready("feed", b"x", content_type="x", last_modified=0, max_age=1)
    assert watcher.current() == 1
    cache.put("k", ready, 1)
    for _ in range(10):
        watcher.current()
    assert len(reads) == 1
    now[0] = 1.0
    assert watcher.current() == 1
    assert cache.get("k") is not None
    now[0] = 2.0
    assert watcher.current() == 2
    assert cache.get("k") is None
    cache.put("k", ready, 2)
    now[0] = 3.0
    assert watcher.current() == 2
    assert watcher.reachable is False
    assert cache.get("k") is not None
