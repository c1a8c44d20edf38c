"""Hostile content: scripts, handlers, javascript: links, CSS expressions, SVG payloads,
entity bombs and DOCTYPEs in digests and source pages never become live markup."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from aggregator import render
from aggregator.build import build
from aggregator.model import FeedKey, FeedQuery
from aggregator.sanitize import clean_html
from aggregator.sourcepage import parse_detail_page
from aggregator.store import Store
from tests import reliability
from tests.test_store import ingest

pytestmark = pytest.mark.reliability

PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    '<a href="javascript:alert(3)">click</a>',
    '<div style="width: expression(alert(4))">x</div>',
    '<svg onload="alert(5)"><script>alert(6)</script></svg>',
    '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><x>&b;</x>',
    '<iframe src="https://evil.example/"></iframe>',
    '"><body onload=alert(7)>',
    "<style>@import 'https://evil.example/x.css';</style>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(8)>",
]
BAD_URL_SCHEMES = ("javascript:", "vbscript:", "data:text/html")


class LiveMarkup(HTMLParser):
    """Collects what a browser would treat as active: tags and attributes that run code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "iframe", "object", "embed", "svg", "math", "style", "base", "form"}:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            lowered = (value or "").strip().lower()
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if name == "style" and "expression" in lowered:
                self.found.append(f"{tag}[style=expression]")
            if name in {"href", "src", "action"} and lowered.startswith(BAD_URL_SCHEMES):
                self.found.append(f"{tag}[{name}={lowered[:20]}]")


def live(html: str, *, own_styles: int = 0) -> list[str]:
    """Active markup in ``html``; a page may have ``own_styles`` style elements of its own."""
    parser = LiveMarkup()
    parser.feed(html)
    parser.close()
    found = list(parser.found)
    for _ in range(own_styles):
        if "<style>" in found:
            found.remove("<style>")
    return found


def hostile_digest(folder: Path) -> Path:
    folder.mkdir()
    lines = []
    for n, payload in enumerate(PAYLOADS, start=1):
        lines.append(f"Hostile {payload} title {n:02d}.02.2025")
        lines.append(f"Body with {payload} inside.")
        lines.append(f"Source : https://www.gov.kz/memleket/entities/ecogeo/press/news/details/{n}")
        lines.append("")
    (folder / "hostile.txt").write_text("\n".join(lines), "utf-8")
    return folder


def html_fragments(path: Path) -> list[str]:
    """What a reader renders as HTML from each output file."""
    data = path.read_bytes()
    if path.suffix == ".html":
        return [data.decode("utf-8")]
    if path.suffix == ".json":
        feed = json.loads(data)
        # JSON Feed's title and summary are plain text by the spec; content_html is HTML.
        return [str(item.get("content_html", "")) for item in feed["items"]]
    root = ET.fromstring(data)  # the stdlib parser: no external entities, no network
    fragments = []
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag in {"content", "summary", "description", "encoded"} and element.text:
            fragments.append(element.text)
    return fragments


def test_hostile_digest_never_becomes_live_markup(store: Store, tmp_path: Path) -> None:
    ingest(store, hostile_digest(tmp_path / "seeds"))
    assert store.count_items() == len(PAYLOADS)
    out = tmp_path / "feeds"
    build(store, out, base_url="https://feeds.example.org/", feed_size=50)
    checked = bad = 0
    for path in sorted(out.rglob("*")):
        if path.suffix not in {".atom", ".rss", ".json", ".html", ".opml"}:
            continue
        if path.suffix == ".opml":
            ET.fromstring(path.read_bytes())
            continue
        for fragment in html_fragments(path):
            found = live(fragment, own_styles=1 if path.suffix == ".html" else 0)
            checked += 1
            bad += bool(found)
            assert found == [], (path.name, found)
    items = store.feed_items(FeedQuery(FeedKey("ecogeo"), limit=50))
    for theme in ("light", "dark"):
        widget = render.render_embed(items, title="x", ui_lang="en", theme=theme).decode()
        assert live(widget, own_styles=1) == []
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in widget  # visible as text
    reliability.count("hostile-content", len(PAYLOADS), bad, "digest payloads in every output")
    assert checked > 0


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_source_page_is_sanitised(payload: str) -> None:
    page = (
        "<html><body><article><h1>Title</h1><p>14 February 2025 11:58</p>"
        f"<p>Real text of the article.</p>{payload}<p><a href='/ok'>ok</a></p>"
        "</article></body></html>"
    )
    article = parse_detail_page(page, url="https://www.gov.kz/x", origin="https://www.gov.kz")
    body = article.body_html if article is not None else ""
    found = live(body)
    reliability.count("hostile-content", 1, bool(found), "source page payloads")
    assert found == []
    assert "alert" not in body or "<script" not in body


def test_entity_bomb_is_neither_expanded_nor_slow() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
            for i in range(1, 10)
        )
        + "]><lolz>&lol9;</lolz>"
    )
    started = time.monotonic()
    cleaned = clean_html(bomb, base_url="https://www.gov.kz/")
    article = parse_detail_page(bomb, url="https://www.gov.kz/x", origin="https://www.gov.kz")
    assert time.monotonic() - started < 2
    assert "lollol" not in cleaned
    assert article is None or "lollol" not in article.body_html
    reliability.count("hostile-content", 1, 0, "entity bomb")
