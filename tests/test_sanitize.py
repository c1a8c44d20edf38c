"""The allow-list sanitiser: what survives, what is resolved, what never gets through."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, clean_html

BASE = "https://www.gov.kz/memleket/entities/ecogeo/press/news/details/963904?lang=kk"


class _Collector(HTMLParser):
    """Every start tag and its attributes, as a browser-like parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.tags


def assert_safe(html: str) -> None:
    for tag, attrs in tags_of(html):
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}, (tag, name)
            if name in ("href", "src"):
                assert value is not None
                assert value.startswith(("http://", "https://")), value


def test_allowed_structure_survives() -> None:
    html = (
        "<h2>Head</h2><p>One <strong>two</strong> <em>three</em> <b>b</b> <i>i</i><br>four</p>"
        "<ul><li>a</li></ul><ol><li>b</li></ol><blockquote>q</blockquote>"
        '<figure><img src="https://x.kz/a.jpg" alt="A" width="10" height="20">'
        "<figcaption>cap</figcaption></figure>"
        "<table><thead><tr><th>h</th></tr></thead><tbody><tr><td>c</td></tr></tbody></table>"
    )
    assert clean_html(html, base_url=BASE) == html


def test_relative_urls_become_absolute_against_the_page() -> None:
    html = (
        '<p><a href="/memleket/x">x</a><img src="/uploads/2025/2/14/a.jpeg"><a href="y">y</a></p>'
    )
    cleaned = clean_html(html, base_url=BASE)
    assert 'href="https://www.gov.kz/memleket/x"' in cleaned
    assert 'src="https://www.gov.kz/uploads/2025/2/14/a.jpeg"' in cleaned
    assert 'href="https://www.gov.kz/memleket/entities/ecogeo/press/news/details/y"' in cleaned
    assert_safe(cleaned)


def test_links_get_noopener_noreferrer_whatever_they_said() -> None:
    cleaned = clean_html(
        '<a href="https://x.kz/" rel="opener" target="_blank">x</a>', base_url=BASE
    )
    assert cleaned == '<a href="https://x.kz/" rel="noopener noreferrer">x</a>'


def test_unknown_tags_keep_their_text_but_not_their_markup() -> None:
    cleaned = clean_html('<div class="x"><span style="color:red">text</span></div>', base_url=BASE)
    assert cleaned == "text"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "jav&#x09;ascript:alert(1)",
        "&#106;avascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "mailto:someone@example.org",
        "ftp://example.org/file",
        "http://[::1",
    ],
)
def test_only_http_urls_survive(href: str) -> None:
    cleaned = clean_html(f'<a href="{href}">x</a><img src="{href}">', base_url=BASE)
    assert "href=" not in cleaned
    assert "src=" not in cleaned
    assert "x" in cleaned


HOSTILE = [
    "<script>alert(1)</script><p>ok</p>",
    "<SCRIPT SRC=http://evil.example/x.js></SCRIPT><p>ok</p>",
    '<img src="x" onerror="alert(1)"><p>ok</p>',
    '<p onclick="alert(1)" onmouseover="alert(2)">ok</p>',
    '<p style="x:expression(alert(1))">ok</p>',
    '<p style="background:url(javascript:alert(1))">ok</p>',
    '<svg onload="alert(1)"><script>alert(2)</script><circle r="1"/></svg><p>ok</p>',
    '<svg><a xlink:href="javascript:alert(1)"><text>t</text></a></svg><p>ok</p>',
    "<math><mtext><img src=x onerror=alert(1)></mtext></math><p>ok</p>",
    '<iframe src="javascript:alert(1)">frame</iframe><p>ok</p>',
    '<object data="http://evil.example/x.swf">obj</object><embed src="x.swf"><p>ok</p>',
    "<style>p{background:url(javascript:alert(1))}</style><p>ok</p>",
    '<form action="http://evil.example"><input name=q><button>go</button></form><p>ok</p>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)"><p>ok</p>',
    '<base href="javascript:alert(1)//"><p>ok</p>',
    "<!--<script>alert(1)</script>--><p>ok</p>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">x</p></noscript><p>ok</p>',
    "<template><img src=x onerror=alert(1)></template><p>ok</p>",
    '<a href="https://x.kz/" onfocus="alert(1)" autofocus>ok</a>',
    "<p>ok<scr<script>ipt>alert(1)</script></p>",
]


@pytest.mark.parametrize("html", HOSTILE)
def test_hostile_html_is_defused(html: str) -> None:
    cleaned = clean_html(html, base_url=BASE)
    assert_safe(cleaned)
    lowered = cleaned.lower()
    # Any "alert(1)" left is inert text; markup, handlers and script URLs are not.
    for needle in ("<script", "onerror", "onload", "onclick", "onfocus", "javascript:", "style="):
        assert needle not in lowered, (needle, cleaned)
    assert "ok" in cleaned


def test_doctype_and_entity_bomb_are_dropped() -> None:
    bomb = (
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><p>&lol3;</p>'
    )
    cleaned = clean_html(bomb, base_url=BASE)
    assert "ENTITY" not in cleaned
    assert "]&gt;" not in cleaned
    assert cleaned == "<p>&amp;lol3;</p>"


def test_whole_documents_keep_only_their_body() -> None:
    html = "<html><head><title>T</title><style>p{}</style></head><body><p>hi</p></body></html>"
    assert clean_html(html, base_url=BASE) == "<p>hi</p>"


def test_non_numeric_sizes_are_dropped() -> None:
    cleaned = clean_html('<img src="/a.png" width="100%" height="20">', base_url=BASE)
    assert cleaned == '<img src="https://www.gov.kz/a.png" height="20">'


FRAGMENTS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<a href='javascript:alert(1)'>",
        "<a href='/x'>",
        "</a>",
        "<img src=x onerror=alert(1)>",
        "<script>",
        "</script>",
        "<svg onload=alert(1)>",
        "<style>",
        "<table>",
        "<td>",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<!DOCTYPE x [",
        "]>",
        "&lt;",
        "&#106;",
        "'",
        '"',
        "=",
        " ",
        "text",
        "Қазақ",
        "<iframe src=javascript:alert(1)>",
        "<p style='x:expression(1)'>",
        "<math>",
        "<noscript>",
    ]
)


@given(st.lists(FRAGMENTS, max_size=30).map("".join))
def test_any_soup_of_hostile_fragments_comes_out_safe(html: str) -> None:
    cleaned = clean_html(html, base_url=BASE)
    assert_safe(cleaned)
    assert "<script" not in cleaned.lower()
