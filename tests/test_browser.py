"""Headless Chromium (Debian's /usr/bin/chromium through Playwright) on the real pages:
the index and its links, the embed widget framed by another site, markup from a digest
shown as text and never run, and the static build's index opened from disk."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from aggregator.build import build
from aggregator.settings import Settings
from aggregator.store import Store
from aggregator.web import create_app
from tests.conftest import SEED
from tests.test_store import ingest, item_text

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCRIPT = "<script>window.pwned=1</script>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium): browser tests skipped")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The shipped seed plus a digest whose title and body carry a script element."""
    folder = tmp_path_factory.mktemp("browser")
    opened = Store.open(f"sqlite:///{folder / 'store.db'}")
    evil = folder / "evil" / "001.txt"
    evil.parent.mkdir()
    evil.write_text(
        item_text(f"Breaking {SCRIPT} news", 990_777, f"Body {SCRIPT} text.", date="20.02.2025"),
        encoding="utf-8",
    )
    ingest(opened, SEED)
    ingest(opened, evil, clock=1_800_000_100.0)
    yield opened
    opened.close()


def serve_in_thread(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture(scope="module")
def site(store: Store) -> Iterator[str]:
    yield from serve_in_thread(create_app(Settings(), store=store))


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def other_site(tmp_path_factory: pytest.TempPathFactory, site: str) -> Iterator[str]:
    """Another origin whose page frames our widget and our index page."""
    folder = tmp_path_factory.mktemp("other")
    (folder / "host.html").write_text(
        "<!DOCTYPE html><html><body>"
        f'<iframe id="widget" src="{site}embed/all?n=5"></iframe>'
        f'<iframe id="index" src="{site}"></iframe>'
        "</body></html>",
        encoding="utf-8",
    )
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def errors() -> list[str]:
    """Console errors and uncaught exceptions of the test's page, as text."""
    return []


@pytest.fixture
def page(browser: Browser, errors: list[str]) -> Iterator[Page]:
    context = browser.new_context(locale="en-US")
    opened = context.new_page()
    opened.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()


def test_index_lists_agencies_and_every_link_resolves(
    page: Page, errors: list[str], site: str
) -> None:
    response = page.goto(site)
    assert response is not None
    assert response.status == 200
    assert page.title() == "gov.kz press releases as feeds"
    for slug in ("ecogeo", "economy", "almaty"):
        assert page.locator(f"section#{slug} h3").is_visible()
    hrefs = page.eval_on_selector_all("a[href], link[href]", "nodes => nodes.map(n => n.href)")
    ours = sorted({href for href in hrefs if href.startswith(site)})
    assert len(ours) >= 4 * 4 * 3 + 1  # every feed of every scope, the OPML, the icon
    for href in ours:
        assert page.request.get(href).status == 200, href
    assert errors == []


def test_markup_from_a_digest_is_text_and_never_runs(
    page: Page, errors: list[str], site: str
) -> None:
    for path in ("", "embed/all"):
        page.goto(site + path)
        assert page.evaluate("typeof window.pwned") == "undefined"
        shown = page.get_by_text(f"Breaking {SCRIPT} news")
        assert shown.first.is_visible()
        assert page.locator("script").count() == 0
        assert errors == []


def test_embed_widget_in_the_readers_language(browser: Browser, site: str) -> None:
    context = browser.new_context(locale="ru-RU")
    try:
        page = context.new_page()
        page.goto(site + "embed/all?n=4&theme=dark")
        assert page.locator("li").count() == 4
        assert page.locator("html").get_attribute("lang") == "ru"
        assert "февраля" in page.locator("li time").first.inner_text()
        links = page.locator("li a")
        assert (links.first.get_attribute("href") or "").startswith("https://www.gov.kz/")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"
    finally:
        context.close()


def test_widget_may_be_framed_and_the_index_may_not(
    page: Page, errors: list[str], site: str, other_site: str
) -> None:
    page.goto(other_site + "host.html")
    page.wait_for_load_state("load")
    frames = {urlsplit(frame.url).path: frame for frame in page.frames}
    widget = frames["/embed/all"]
    assert widget.locator("li").count() == 5
    # The index refuses to be framed: Chromium shows its own error page instead.
    assert site not in {frame.url for frame in page.frames}
    assert page.frame_locator("#index").locator("#agencies").count() == 0
    refused = [e for e in errors if "frame-ancestors 'none'" in e]
    assert refused, errors


def test_static_build_index_links_resolve_to_files(
    page: Page, store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "feeds"
    build(store, out, base_url="https://feeds.example.org/", feed_size=50)
    page.goto((out / "index.html").as_uri())
    hrefs = page.eval_on_selector_all("a[href], link[href]", "nodes => nodes.map(n => n.href)")
    local = sorted({href for href in hrefs if href.startswith("file:")})
    assert len(local) >= 4 * 4 * 3 + 1
    for href in local:
        path = Path(url2pathname(urlsplit(href).path))
        assert path.is_file(), href
        assert path.resolve().is_relative_to(out.resolve())
    assert urljoin((out / "index.html").as_uri(), "all.atom") in local
