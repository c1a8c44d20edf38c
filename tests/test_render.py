"""Tests of aggregator.render: feeds, index page, OPML and widget from plain Items.

The XML is parsed back (ElementTree) and its attributes asserted, the HTML is parsed with
html.parser, the JSON Feed is checked against the 1.1 spec's required fields, golden files
under tests/data/render/ pin the exact bytes, and tools/feedcheck runs independent
validators and reader parsers on the Atom and RSS output.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import __version__, render
from aggregator.agencies import agency
from aggregator.model import ALL, LANGS, Enrichment, FeedKey, Item, Lang, Translation
from aggregator.render import (
    EMPTY_FEED_UPDATED,
    FORMATS,
    ICON_SVG,
    AgencySummary,
    FeedDoc,
    SiteDoc,
    content_html,
    feed_keys,
    feed_title,
    feed_url,
    format_date,
    paragraphs_html,
    render_atom,
    render_embed,
    render_index,
    render_json,
    render_opml,
    render_rss,
    summarize,
    xml_safe,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "render"
FEEDCHECK = ROOT / "tools" / "feedcheck" / "feedcheck"

ALMATY = ZoneInfo("Asia/Almaty")
BASE = "https://feeds.example.org/govkz/"
A = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CONTENT_NS = "{http://purl.org/rss/1.0/modules/content/}"
DC_NS = "{http://purl.org/dc/elements/1.1/}"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def news_url(slug: str, news_id: str, lang: Lang) -> str:
    return f"https://www.gov.kz/memleket/entities/{slug}/press/news/details/{news_id}?lang={lang}"


def at(day: int, hour: int = 0, minute: int = 0, month: int = 2) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=ALMATY)


def make_item(
    slug: str = "ecogeo",
    news_id: str = "963904",
    lang: Lang = "en",
    *,
    others: tuple[Lang, ...] = (),
    **changes: object,
) -> Item:
    """An item whose translations (``others``) link to the same news id in other languages."""
    item = Item(
        agency=slug,
        news_id=news_id,
        lang=lang,
        title=f"Title {news_id} {lang}",
        published=at(14),
        link=news_url(slug, news_id, lang),
        text=f"Text of {news_id} in {lang}.",
        translations=tuple(
            Translation(other, f"Title {news_id} {other}", news_url(slug, news_id, other))
            for other in others
        ),
    )
    return replace(item, **changes)  # type: ignore[arg-type]


# A realistic mix: one news id in kk/ru/en with translations, an enriched item with an
# image and an exact time, a digest that contains markup, a control character in a title,
# a later correction (updated), an item without text, and an unknown agency slug.
SAMPLE: tuple[Item, ...] = (
    make_item(
        "ecogeo",
        "963904",
        "en",
        others=("kk", "ru"),
        title="Dear nature users!",
        text=(
            "We inform you that the transfer of public hearing data has been completed.\n\n"
            "In addition, requests are accepted by e-mail to sd_ndbecology@nitec.kz:\n"
            "send a screenshot and a description."
        ),
        category="Technology",
        updated=at(15, 9, 30),
        enrichment=Enrichment(
            image="https://www.gov.kz/uploads/2025/2/14/0123456789abcdef0123456789abcdef_original.1.jpeg",
            published=at(14, 11, 58),
        ),
    ),
    make_item(
        "ecogeo",
        "963904",
        "ru",
        others=("kk", "en"),
        title="Уважаемые природопользователи!",
        text="Сообщаем, что перенос данных публичных слушаний завершён.",
        category="Технологии",
    ),
    make_item(
        "ecogeo",
        "963904",
        "kk",
        others=("ru", "en"),
        title="Құрметті табиғат пайдаланушылар!",
        text="Қоғамдық тыңдаулар деректерін көшіру аяқталды.",
    ),
    make_item(
        "economy",
        "936985",
        "ru",
        title="Казахстан приступает к обсуждению <обзора>",
        text="Семинар <script>alert(1)</script> прошёл.\n\nФото: <img src=x onerror=alert(1)>",
        published=at(13),
    ),
    make_item(
        "almaty",
        "929615",
        "en",
        title='"ACTIVITY BOOM":\x0b benefits for active youth of Almaty',
        text="Discounts \x00for young people\ufffe on food & recreation.",
        published=at(9),
    ),
    make_item(
        "almaty",
        "929638",
        "en",
        title="Medeu ice rink keeps its historical appearance",
        text="",
        published=at(9),
    ),
    make_item("qriim", "930461", "kk", title="Белгісіз ведомство жаңалығы", published=at(8)),
)


EVERY = FeedKey()


def feed_doc(key: FeedKey = EVERY, items: tuple[Item, ...] = SAMPLE, **kw: object) -> FeedDoc:
    return FeedDoc(key=key, items=items, base_url=BASE, **kw)  # type: ignore[arg-type]


def atom(doc: FeedDoc) -> ElementTree.Element:
    return ElementTree.fromstring(render_atom(doc))


def rss_channel(doc: FeedDoc) -> ElementTree.Element:
    channel = ElementTree.fromstring(render_rss(doc)).find("channel")
    assert channel is not None
    return channel


def json_feed(doc: FeedDoc) -> dict[str, object]:
    found = json.loads(render_json(doc).decode("utf-8"))
    assert isinstance(found, dict)
    return found


def entries(doc: FeedDoc) -> list[ElementTree.Element]:
    return atom(doc).findall(f"{A}entry")


class Tags(HTMLParser):
    """Every start tag of an HTML document with its attributes, and its text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


# --------------------------------------------------------------------------- URL layout


@pytest.mark.parametrize(
    ("key", "stem"),
    [
        (FeedKey(), "all"),
        (FeedKey(ALL, "kk"), "all/kk"),
        (FeedKey("ecogeo"), "ecogeo"),
        (FeedKey("ecogeo", "ru"), "ecogeo/ru"),
    ],
)
def test_each_format_is_published_at_its_stem_and_says_so(key: FeedKey, stem: str) -> None:
    doc = feed_doc(key, SAMPLE[:2])
    assert [feed_url(BASE, key, ext) for ext in FORMATS] == [
        f"{BASE}{stem}.atom",
        f"{BASE}{stem}.rss",
        f"{BASE}{stem}.json",
    ]

    feed = atom(doc)
    (self_link,) = [ln for ln in feed.findall(f"{A}link") if ln.get("rel") == "self"]
    assert self_link.get("href") == f"{BASE}{stem}.atom"
    assert self_link.get("type") == "application/atom+xml"
    assert feed.findtext(f"{A}id") == f"{BASE}{stem}.atom"

    (rss_self,) = rss_channel(doc).findall(f"{A}link")
    assert (rss_self.get("rel"), rss_self.get("href")) == ("self", f"{BASE}{stem}.rss")

    assert json_feed(doc)["feed_url"] == f"{BASE}{stem}.json"


def test_explicit_self_url_is_used_as_id_and_self_link() -> None:
    url = "https://other.example/x/ecogeo.atom?q=water"
    feed = atom(feed_doc(FeedKey("ecogeo"), self_url=url))
    assert feed.findtext(f"{A}id") == url
    assert [ln.get("href") for ln in feed.findall(f"{A}link") if ln.get("rel") == "self"] == [url]


def test_feed_keys_cover_all_and_every_agency_in_every_language() -> None:
    keys = feed_keys(["ecogeo", "economy"])
    assert len(keys) == 12
    assert keys[:4] == (FeedKey(), FeedKey(ALL, "kk"), FeedKey(ALL, "ru"), FeedKey(ALL, "en"))
    assert {k.path_stem for k in keys[4:]} == {
        "ecogeo", "ecogeo/kk", "ecogeo/ru", "ecogeo/en",
        "economy", "economy/kk", "economy/ru", "economy/en",
    }  # fmt: skip


@pytest.mark.parametrize("bad", ["", "feeds.example.org/", "https://feeds.example.org", "/x/"])
def test_base_url_must_be_absolute_and_end_with_a_slash(bad: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        FeedDoc(FeedKey(), (), bad)
    with pytest.raises(ValueError, match="base_url"):
        SiteDoc(bad, ())


# --------------------------------------------------------------------------- entries


def test_entry_id_and_guid_are_the_item_link() -> None:
    doc = feed_doc()
    assert [e.findtext(f"{A}id") for e in entries(doc)] == [i.link for i in SAMPLE]
    guids = rss_channel(doc).findall("item/guid")
    assert [g.text for g in guids] == [i.link for i in SAMPLE]
    assert {g.get("isPermaLink") for g in guids} == {"true"}
    assert [i["id"] for i in json_feed(doc)["items"]] == [i.link for i in SAMPLE]  # type: ignore[attr-defined]


def test_one_alternate_link_first_then_enclosure_and_related_translations() -> None:
    for item, entry in zip(SAMPLE, entries(feed_doc()), strict=True):
        links = entry.findall(f"{A}link")
        assert links[0].attrib == {
            "rel": "alternate",
            "type": "text/html",
            "hreflang": item.lang,
            "href": item.link,
        }
        assert [ln.get("rel") for ln in links].count("alternate") == 1
        related = [ln.attrib for ln in links if ln.get("rel") == "related"]
        assert related == [
            {"rel": "related", "type": "text/html", "hreflang": t.lang, "title": t.title,
             "href": t.link}
            for t in sorted(item.translations, key=lambda t: LANGS.index(t.lang))
        ]  # fmt: skip
        enclosures = [ln for ln in links if ln.get("rel") == "enclosure"]
        if item.enrichment is not None and item.enrichment.image:
            assert links[1] is enclosures[0]
            assert enclosures[0].attrib == {
                "rel": "enclosure",
                "type": "image/jpeg",
                "href": item.enrichment.image,
            }
        else:
            assert enclosures == []


def test_translations_are_deduplicated_and_never_name_the_items_own_language() -> None:
    item = make_item(
        lang="ru",
        translations=(
            Translation("en", "A", news_url("ecogeo", "963904", "en")),
            Translation("ru", "Self", news_url("ecogeo", "963904", "ru")),
            Translation("kk", "B", news_url("ecogeo", "963904", "kk")),
            Translation("en", "A again", "https://www.gov.kz/duplicate"),
        ),
    )
    (entry,) = entries(feed_doc(items=(item,)))
    assert [(ln.get("hreflang"), ln.get("title")) for ln in entry.findall(f"{A}link")] == [
        ("ru", None),
        ("kk", "B"),
        ("en", "A"),
    ]


def test_entry_fields_dates_author_category_and_language() -> None:
    entry = entries(feed_doc())[0]
    assert entry.get(XML_LANG) == "en"
    assert entry.findtext(f"{A}title") == "Dear nature users!"
    # effective_published: the exact time the source page gave; updated: the correction.
    assert entry.findtext(f"{A}published") == "2025-02-14T11:58:00+05:00"
    assert entry.findtext(f"{A}updated") == "2025-02-15T09:30:00+05:00"
    assert entry.findtext(f"{A}author/{A}name") == agency("ecogeo").en
    (category,) = entry.findall(f"{A}category")
    assert category.get("term") == "Technology"

    russian = entries(feed_doc())[1]
    assert russian.get(XML_LANG) == "ru"
    assert russian.findtext(f"{A}author/{A}name") == (
        "Министерство экологии и природных ресурсов Республики Казахстан"
    )
    assert russian.findtext(f"{A}published") == "2025-02-14T00:00:00+05:00"
    assert russian.findtext(f"{A}updated") == "2025-02-14T00:00:00+05:00"
    assert entries(feed_doc())[2].findall(f"{A}category") == []


def test_dates_are_written_in_almaty_time_whatever_zone_the_item_carries() -> None:
    utc_item = make_item(published=datetime(2025, 2, 14, 6, 0, tzinfo=ZoneInfo("UTC")))
    old_item = make_item(news_id="1", published=datetime(2023, 5, 1, tzinfo=ALMATY))
    first, second = entries(feed_doc(items=(utc_item, old_item)))
    assert first.findtext(f"{A}published") == "2025-02-14T11:00:00+05:00"
    # Before 2024-03-01 Almaty was UTC+6: the zone database, not a fixed offset, decides.
    assert second.findtext(f"{A}published") == "2023-05-01T00:00:00+06:00"


def test_naive_datetimes_are_a_bug_and_raise() -> None:
    naive = make_item(published=datetime(2025, 2, 14))
    with pytest.raises(ValueError, match="naive"):
        render_atom(feed_doc(items=(naive,)))


def test_entries_keep_the_given_order() -> None:
    # Deliberately not sorted by date: the caller orders, render must not reverse or sort.
    items = (SAMPLE[3], SAMPLE[0], SAMPLE[6], SAMPLE[1])
    links = [i.link for i in items]
    doc = feed_doc(items=items)
    assert [e.findtext(f"{A}id") for e in entries(doc)] == links
    assert [i.findtext("link") for i in rss_channel(doc).findall("item")] == links
    assert [i["url"] for i in json_feed(doc)["items"]] == links  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- content


def test_plain_text_becomes_escaped_paragraphs() -> None:
    assert paragraphs_html("One\ntwo\n\n  \n\nThree <b>&</b>\r\n\r\nFour") == (
        "<p>One<br>two</p>\n<p>Three &lt;b&gt;&amp;&lt;/b&gt;</p>\n<p>Four</p>"
    )
    assert paragraphs_html("") == ""


def test_markup_in_a_digest_reaches_the_reader_as_visible_text() -> None:
    doc = feed_doc(items=(SAMPLE[3],))
    (entry,) = entries(doc)
    bodies = {
        "atom content": entry.findtext(f"{A}content") or "",
        "rss content:encoded": rss_channel(doc).findtext(f"item/{CONTENT_NS}encoded") or "",
        "json content_html": json_feed(doc)["items"][0]["content_html"],  # type: ignore[index]
    }
    for where, body in bodies.items():
        parsed = Tags(body)
        assert parsed.named("script") == [], where
        assert parsed.named("img") == [], where
        shown = "".join(parsed.text)
        assert "<script>alert(1)</script>" in shown, where
        assert "<img src=x onerror=alert(1)>" in shown, where
    assert entry.findtext(f"{A}title") == "Казахстан приступает к обсуждению <обзора>"


def test_rss_description_is_the_summary_escaped_as_html() -> None:
    (item,) = rss_channel(feed_doc(items=(SAMPLE[3],))).findall("item")
    description = item.findtext("description") or ""
    assert "<script>" not in description
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in description
    assert "".join(Tags(description).text) == summarize(SAMPLE[3].text)


def test_body_html_from_enrichment_replaces_the_paragraphs_and_image_goes_on_top() -> None:
    image = "https://www.gov.kz/uploads/a.png"
    body = '<p>Sanitised <a href="https://www.gov.kz/">body</a></p>'
    item = make_item(enrichment=Enrichment(body_html=body, image=image))
    html = content_html(item)
    assert html.startswith(f'<p><img src="{image}" alt=""></p>\n{body}')
    assert "Text of 963904" not in html

    with_image = make_item(
        enrichment=Enrichment(body_html=f'<p><img src="{image}"></p>', image=image)
    )
    assert Tags(content_html(with_image)).named("img") == [{"src": image}]

    only_image = content_html(make_item(enrichment=Enrichment(image=image)))
    assert only_image == f'<p><img src="{image}" alt=""></p>\n<p>Text of 963904 in en.</p>'


def test_content_ends_with_the_other_languages_named_in_their_own_language() -> None:
    html = content_html(SAMPLE[0])
    last = html.splitlines()[-1]
    assert last == (
        f'<p>Also in: <a href="{SAMPLE[0].translations[0].link}" hreflang="kk" lang="kk">'
        f"Қазақша</a> · "
        f'<a href="{SAMPLE[0].translations[1].link}" hreflang="ru" lang="ru">Русский</a></p>'
    )
    assert "English" in content_html(SAMPLE[1])
    assert "Also in" not in content_html(SAMPLE[3])


def test_enclosure_in_rss_and_image_in_json() -> None:
    doc = feed_doc(items=SAMPLE[:2])
    first, second = rss_channel(doc).findall("item")
    enclosure = first.find("enclosure")
    assert enclosure is not None
    assert enclosure.attrib == {
        "url": SAMPLE[0].enrichment.image,  # type: ignore[union-attr]
        "length": "0",
        "type": "image/jpeg",
    }
    assert second.find("enclosure") is None
    items = json_feed(doc)["items"]
    assert items[0]["image"] == SAMPLE[0].enrichment.image  # type: ignore[index, union-attr]
    assert "image" not in items[1]  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Short text.", "Short text."),
        ("  spread\n\nover   lines ", "spread over lines"),
        ("", ""),
    ],
)
def test_summary_of_short_text_is_the_text_on_one_line(text: str, expected: str) -> None:
    assert summarize(text) == expected


def test_summary_of_long_text_is_cut_at_a_word_with_an_ellipsis() -> None:
    text = " ".join(f"word{n}" for n in range(200))
    cut = summarize(text)
    assert cut.endswith("…")
    assert len(cut) <= 281
    assert len(cut) > 250
    assert text.startswith(cut[:-1] + " ")
    # A single unbroken run is cut hard rather than losing everything.
    assert summarize("x" * 400) == "x" * 280 + "…"


def test_item_without_text_is_summarised_by_its_title_and_stays_valid() -> None:
    empty = SAMPLE[5]
    doc = feed_doc(items=(empty,))
    (entry,) = entries(doc)
    assert entry.findtext(f"{A}summary") == empty.title
    assert entry.find(f"{A}content") is None
    (item,) = rss_channel(doc).findall("item")
    assert item.findtext("description") == empty.title
    json_item = json_feed(doc)["items"][0]  # type: ignore[index]
    assert json_item["summary"] == empty.title
    assert json_item["content_html"] == ""


# --------------------------------------------------------------------------- feed level


@pytest.mark.parametrize(
    ("key", "title", "language"),
    [
        (FeedKey("ecogeo", "ru"), agency("ecogeo").ru, "ru"),
        (FeedKey("ecogeo", "kk"), agency("ecogeo").kk, "kk"),
        (FeedKey("ecogeo"), f"{agency('ecogeo').en} (kk · ru · en)", None),
        (FeedKey(ALL, "ru"), "gov.kz — все ведомства", "ru"),
        (FeedKey(ALL, "en"), "gov.kz — all agencies", "en"),
        (FeedKey(), "gov.kz — all agencies (kk · ru · en)", None),
    ],
)
def test_feed_title_and_language(key: FeedKey, title: str, language: str | None) -> None:
    doc = feed_doc(key, ())
    assert feed_title(key) == title
    feed = atom(doc)
    assert feed.findtext(f"{A}title") == title
    assert feed.get(XML_LANG) == language
    assert feed.findtext(f"{A}subtitle")
    channel = rss_channel(doc)
    assert channel.findtext("title") == title
    assert channel.findtext("language") == language
    assert channel.findtext("description") == feed.findtext(f"{A}subtitle")
    found = json_feed(doc)
    assert found["title"] == title
    assert found.get("language") == language


def test_subtitles_differ_by_language() -> None:
    subtitles = {render.feed_subtitle(FeedKey(ALL, lang)) for lang in (None, *LANGS)}
    assert len(subtitles) == 4
    assert "на русском" in render.feed_subtitle(FeedKey("ecogeo", "ru"))


def test_feed_links_generator_and_icon() -> None:
    feed = atom(feed_doc(FeedKey("ecogeo", "ru"), SAMPLE[1:2]))
    links = {ln.get("rel"): ln.attrib for ln in feed.findall(f"{A}link")}
    assert links["alternate"] == {
        "href": f"{BASE}index.html",
        "rel": "alternate",
        "type": "text/html",
    }
    assert "next" not in links
    generator = feed.find(f"{A}generator")
    assert generator is not None
    assert generator.text == "govkz-feeds"
    assert generator.get("version") == __version__
    assert generator.get("uri", "").startswith("https://")
    assert feed.findtext(f"{A}icon") == f"{BASE}icon.svg"
    channel = rss_channel(feed_doc(FeedKey("ecogeo", "ru"), SAMPLE[1:2]))
    assert channel.findtext("link") == f"{BASE}index.html"
    assert channel.findtext("generator") == "govkz-feeds"
    assert json_feed(feed_doc())["icon"] == f"{BASE}icon.svg"
    assert json_feed(feed_doc())["home_page_url"] == f"{BASE}index.html"


def test_next_link_for_paging() -> None:
    next_url = f"{BASE}all.atom?before=2025-02-13T00:00:00%2B05:00"
    doc = feed_doc(next_url=next_url)
    (link,) = [ln for ln in atom(doc).findall(f"{A}link") if ln.get("rel") == "next"]
    assert link.get("href") == next_url
    rss_links = {ln.get("rel"): ln.get("href") for ln in rss_channel(doc).findall(f"{A}link")}
    assert rss_links == {"self": f"{BASE}all.rss", "next": next_url}
    assert json_feed(doc)["next_url"] == next_url
    assert "next_url" not in json_feed(feed_doc())


def test_feed_updated_is_the_newest_entry_update_never_now() -> None:
    # SAMPLE[0] is first but SAMPLE[1] is given first here: the maximum counts, not position.
    doc = feed_doc(items=(SAMPLE[1], SAMPLE[0]))
    assert atom(doc).findtext(f"{A}updated") == "2025-02-15T09:30:00+05:00"
    assert rss_channel(doc).findtext("lastBuildDate") == "Sat, 15 Feb 2025 09:30:00 +0500"


def test_empty_feed_has_the_fixed_updated_and_is_well_formed() -> None:
    assert EMPTY_FEED_UPDATED.isoformat() == "2024-01-01T00:00:00+05:00"
    doc = feed_doc(FeedKey("ecogeo", "kk"), ())
    feed = atom(doc)
    assert feed.findtext(f"{A}updated") == "2024-01-01T00:00:00+05:00"
    assert feed.findall(f"{A}entry") == []
    channel = rss_channel(doc)
    assert channel.findtext("lastBuildDate") == "Mon, 01 Jan 2024 00:00:00 +0500"
    assert channel.findall("item") == []
    assert json_feed(doc)["items"] == []


def test_rss_author_is_dc_creator_not_author() -> None:
    items = rss_channel(feed_doc(items=SAMPLE[:2])).findall("item")
    assert [i.findtext(f"{DC_NS}creator") for i in items] == [
        agency("ecogeo").en,
        agency("ecogeo").ru,
    ]
    assert all(i.find("author") is None for i in items)
    assert [i.findtext("pubDate") for i in items] == [
        "Fri, 14 Feb 2025 11:58:00 +0500",
        "Fri, 14 Feb 2025 00:00:00 +0500",
    ]


def test_unknown_agency_is_named_by_its_slug() -> None:
    entry = entries(feed_doc(items=(SAMPLE[6],)))[0]
    assert entry.findtext(f"{A}author/{A}name") == "qriim"
    assert feed_title(FeedKey("qriim", "kk")) == "qriim"


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("ext", list(FORMATS))
def test_same_input_same_bytes(ext: str) -> None:
    first = FORMATS[ext].render(feed_doc())
    second = FORMATS[ext].render(feed_doc(items=tuple(SAMPLE)))
    assert first == second


def test_formats_map_extension_to_content_type_and_renderer() -> None:
    assert {ext: fmt.content_type for ext, fmt in FORMATS.items()} == {
        "atom": "application/atom+xml; charset=utf-8",
        "rss": "application/rss+xml; charset=utf-8",
        "json": "application/feed+json; charset=utf-8",
    }
    content_type, renderer = FORMATS["rss"]
    assert renderer is render_rss
    assert content_type.startswith(FORMATS["rss"].media_type)


def test_golden_files() -> None:
    """Exact bytes of the sample, to review changes in output as diffs.

    Regenerate with ``GOVKZ_REGENERATE_GOLDEN=1 pytest tests/test_render.py``.
    """
    site = SiteDoc(
        BASE,
        [AgencySummary("ecogeo", {"kk": 1, "ru": 1, "en": 1}), AgencySummary("economy", {"ru": 1})],
        SAMPLE[:4],
    )
    outputs = {
        "all.atom": render_atom(feed_doc()),
        "all.rss": render_rss(feed_doc()),
        "all.json": render_json(feed_doc()),
        "index.html": render_index(site),
        "feeds.opml": render_opml(site),
        "embed-ru-dark.html": render_embed(SAMPLE[:3], title="Новости", ui_lang="ru", theme="dark"),
    }
    if os.environ.get("GOVKZ_REGENERATE_GOLDEN"):
        DATA.mkdir(parents=True, exist_ok=True)
        for name, data in outputs.items():
            (DATA / name).write_bytes(data)
    for name, data in outputs.items():
        assert data == (DATA / name).read_bytes(), f"{name} differs from tests/data/render/{name}"


# --------------------------------------------------------------------------- XML safety


def test_xml_safe_strips_exactly_what_xml_forbids() -> None:
    assert xml_safe("a\x00b\x0bc\x1fd\ufffee\uffff f\ud800g\tx\ny\rz") == "abcde fg\tx\ny\rz"
    assert xml_safe("Қазақша 😀 \u0085 \ue000") == "Қазақша 😀 \u0085 \ue000"


def test_forbidden_characters_never_reach_the_output() -> None:
    dirty = make_item(
        title="Bad\x0b title\x00",
        text="Bad\x01 text\ud800",
        category="Cat\x1f",
        translations=(Translation("ru", "Ру\ufffe", news_url("ecogeo", "963904", "ru") + "\x0c"),),
        enrichment=Enrichment(body_html="<p>x\x08</p>", image="https://www.gov.kz/i.png\x07"),
    )
    doc = feed_doc(items=(dirty,))
    for ext, fmt in FORMATS.items():
        text = fmt.render(doc).decode("utf-8")
        assert not FORBIDDEN.search(text), ext
    (entry,) = entries(doc)
    assert entry.findtext(f"{A}title") == "Bad title"
    site = SiteDoc(BASE, [AgencySummary("ecogeo", {"en": 1})], [dirty])
    for page in (
        render_index(site),
        render_embed([dirty], title="T\x0b", ui_lang="en", theme="light"),
    ):
        assert not FORBIDDEN.search(page.decode("utf-8"))


# Any code point, surrogates included, and a strategy biased towards the C0 controls.
xml_text = st.text(st.characters(exclude_categories=()), max_size=60) | st.text(
    st.characters(min_codepoint=0, max_codepoint=0x3F), max_size=20
)


@settings(max_examples=60, deadline=None)
@given(title=xml_text, text=xml_text, category=xml_text)
def test_any_text_gives_well_formed_utf8(title: str, text: str, category: str) -> None:
    item = make_item(title=title, text=text, category=category or None, others=("kk",))
    doc = feed_doc(items=(item,))
    (entry,) = entries(doc)
    assert entry.findtext(f"{A}id") == item.link
    assert entry.findtext(f"{A}title")  # never empty: falls back to the link
    rss_channel(doc)
    json.loads(render_json(doc).decode("utf-8"))
    page = render_embed([item], title=title, ui_lang="kk", theme="light").decode("utf-8")
    assert "<script" not in page.lower()


# --------------------------------------------------------------------------- JSON Feed 1.1


def validate_jsonfeed_1_1(feed: object) -> list[str]:
    """Problems with a JSON Feed 1.1 document (https://www.jsonfeed.org/version/1.1/)."""
    problems: list[str] = []
    if not isinstance(feed, dict):
        return ["top level is not an object"]
    if feed.get("version") != "https://jsonfeed.org/version/1.1":
        problems.append("version is not https://jsonfeed.org/version/1.1")
    if not isinstance(feed.get("title"), str) or not feed["title"]:
        problems.append("title missing or not a non-empty string")
    for name in ("home_page_url", "feed_url", "next_url", "icon", "favicon", "description"):
        if name in feed and not isinstance(feed[name], str):
            problems.append(f"{name} is not a string")
    for name in ("home_page_url", "feed_url", "next_url", "icon", "favicon"):
        if name in feed and not str(feed[name]).startswith(("https://", "http://")):
            problems.append(f"{name} is not an absolute URL")
    if "authors" in feed and not all(
        isinstance(a, dict) and isinstance(a.get("name"), str) for a in feed["authors"]
    ):
        problems.append("authors must be objects with a name")
    items = feed.get("items")
    if not isinstance(items, list):
        return [*problems, "items missing or not an array"]
    ids: set[str] = set()
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            problems.append(f"item {n} is not an object")
            continue
        if not isinstance(item.get("id"), str) or not item["id"]:
            problems.append(f"item {n}: id missing or not a string")
        elif item["id"] in ids:
            problems.append(f"item {n}: duplicate id")
        else:
            ids.add(item["id"])
        if not isinstance(item.get("content_html"), str) and not isinstance(
            item.get("content_text"), str
        ):
            problems.append(f"item {n}: neither content_html nor content_text")
        for name in ("date_published", "date_modified"):
            if name in item and not RFC3339.match(str(item[name])):
                problems.append(f"item {n}: {name} is not RFC 3339")
        for name in ("url", "title", "summary", "image", "language"):
            if name in item and not isinstance(item[name], str):
                problems.append(f"item {n}: {name} is not a string")
        if "tags" in item and not all(isinstance(t, str) for t in item["tags"]):
            problems.append(f"item {n}: tags must be strings")
        for name in item:
            known = {
                "id", "url", "external_url", "title", "content_html", "content_text", "summary",
                "image", "banner_image", "date_published", "date_modified", "authors", "tags",
                "language", "attachments",
            }  # fmt: skip
            if name not in known and not name.startswith("_"):
                problems.append(f"item {n}: unknown field {name} (extensions start with _)")
    return problems


def test_validator_catches_broken_feeds() -> None:
    assert validate_jsonfeed_1_1({"version": "1", "items": [{"id": 1}]}) == [
        "version is not https://jsonfeed.org/version/1.1",
        "title missing or not a non-empty string",
        "item 1: id missing or not a string",
        "item 1: neither content_html nor content_text",
    ]
    broken_item = {"id": "a", "content_text": "", "date_published": "2025-02-14", "x": 1}
    assert validate_jsonfeed_1_1(
        {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [broken_item]}
    ) == [
        "item 1: date_published is not RFC 3339",
        "item 1: unknown field x (extensions start with _)",
    ]


@pytest.mark.parametrize("key", [FeedKey(), FeedKey("ecogeo", "ru"), FeedKey("ecogeo", "kk")])
def test_json_feed_is_valid_json_feed_1_1(key: FeedKey) -> None:
    for items in (SAMPLE, ()):
        assert validate_jsonfeed_1_1(json_feed(feed_doc(key, items, next_url=f"{BASE}n"))) == []


def test_json_feed_items_carry_the_entry_fields() -> None:
    found = json_feed(feed_doc())
    assert found["authors"] == [{"name": "gov.kz", "url": "https://www.gov.kz/"}]
    first = found["items"][0]  # type: ignore[index]
    assert first["url"] == SAMPLE[0].link
    assert first["title"] == "Dear nature users!"
    assert first["date_published"] == "2025-02-14T11:58:00+05:00"
    assert first["date_modified"] == "2025-02-15T09:30:00+05:00"
    assert first["authors"] == [{"name": agency("ecogeo").en}]
    assert first["language"] == "en"
    assert first["tags"] == ["Technology"]
    assert first["summary"] == summarize(SAMPLE[0].text)
    assert first["_govkz"] == {
        "translations": [
            {
                "language": "kk",
                "title": "Title 963904 kk",
                "url": news_url("ecogeo", "963904", "kk"),
            },
            {
                "language": "ru",
                "title": "Title 963904 ru",
                "url": news_url("ecogeo", "963904", "ru"),
            },
        ]
    }
    assert "tags" not in found["items"][2]  # type: ignore[index]
    assert json_feed(feed_doc(FeedKey("ecogeo", "ru"), ()))["authors"] == [
        {"name": agency("ecogeo").ru}
    ]


# --------------------------------------------------------------------------- index page

SITE = SiteDoc(
    BASE,
    [
        AgencySummary("ecogeo", {"kk": 3, "ru": 5, "en": 2}),
        AgencySummary("economy", {"ru": 7}),
    ],
    SAMPLE[:5],
)


def test_index_links_every_feed_of_every_agency_relatively_with_counts() -> None:
    page = render_index(SITE).decode("utf-8")
    parsed = Tags(page)
    hrefs = [a["href"] for a in parsed.named("a")]
    for scope in (ALL, "ecogeo", "economy"):
        for lang in (None, *LANGS):
            for ext in FORMATS:
                assert f"{FeedKey(scope, lang).path_stem}.{ext}" in hrefs
    assert not [h for h in hrefs if h and h.startswith(BASE)]
    assert "feeds.opml" in hrefs
    assert '<td class="count">10</td>' in page  # ecogeo, every language
    assert '<td class="count">17</td>' in page  # all agencies
    assert '<td class="count">7</td>' in page
    for lang in LANGS:
        assert agency("ecogeo").name(lang) in page
        assert agency("economy").name(lang) in page


def test_index_has_autodiscovery_lang_style_and_no_script() -> None:
    page = render_index(SITE).decode("utf-8")
    parsed = Tags(page)
    discovery = [
        (link["type"], link["href"])
        for link in parsed.named("link")
        if link.get("rel") == "alternate"
    ]
    assert discovery == [
        ("application/atom+xml", "all.atom"),
        ("application/rss+xml", "all.rss"),
        ("application/feed+json", "all.json"),
        ("application/atom+xml", "all/kk.atom"),
        ("application/atom+xml", "all/ru.atom"),
        ("application/atom+xml", "all/en.atom"),
    ]
    assert parsed.named("html") == [{"lang": "en"}]
    assert len(parsed.named("style")) == 1
    assert parsed.named("script") == []
    assert '<link rel="stylesheet"' not in page


def test_index_lists_newest_items_escaped() -> None:
    page = render_index(SITE).decode("utf-8")
    parsed = Tags(page)
    hrefs = [a["href"] for a in parsed.named("a")]
    assert [h for h in hrefs if h and h.startswith("https://www.gov.kz/memleket")] == [
        i.link for i in SAMPLE[:5]
    ]
    assert "Казахстан приступает к обсуждению &lt;обзора&gt;" in page
    assert "14 февраля 2025" in page
    assert parsed.named("img") == []
    empty = render_index(SiteDoc(BASE, [], [])).decode("utf-8")
    assert "No press releases yet." in empty


# --------------------------------------------------------------------------- OPML


def test_opml_lists_every_atom_feed_per_agency() -> None:
    data = render_opml(SITE)
    root = ElementTree.fromstring(data)
    assert root.tag == "opml"
    assert root.get("version") == "2.0"
    head = root.find("head")
    assert head is not None
    assert head.findtext("title")
    assert {child.tag for child in head} == {"title", "docs"}  # nothing that changes
    groups = root.findall("body/outline")
    assert [g.get("text") for g in groups] == [
        "gov.kz — all agencies",
        agency("ecogeo").en,
        agency("economy").en,
    ]
    for group, scope in zip(groups, (ALL, "ecogeo", "economy"), strict=True):
        assert group.get("title") == group.get("text")
        children = group.findall("outline")
        assert [c.get("xmlUrl") for c in children] == [
            f"{BASE}{FeedKey(scope, lang).path_stem}.atom" for lang in (None, *LANGS)
        ]
        assert [c.get("language") for c in children] == [None, *LANGS]
        for child, lang in zip(children, (None, *LANGS), strict=True):
            assert child.get("type") == "rss"
            assert child.get("text") == child.get("title") == feed_title(FeedKey(scope, lang))
            assert child.get("htmlUrl") == f"{BASE}index.html"
    assert render_opml(SITE) == data


# --------------------------------------------------------------------------- embed widget


@pytest.mark.parametrize(
    ("lang", "date"),
    [("en", "14 February 2025"), ("ru", "14 февраля 2025"), ("kk", "2025 жылғы 14 ақпан")],
)
def test_dates_in_the_readers_language(lang: Lang, date: str) -> None:
    assert format_date(at(14), lang) == date
    page = render_embed(SAMPLE[1:2], title="Latest", ui_lang=lang, theme="light").decode()
    assert f">{date}</time>" in page
    assert f'<html lang="{lang}">' in page


def test_every_month_has_a_name_in_every_language() -> None:
    for lang in LANGS:
        names = {format_date(at(1, month=m), lang) for m in range(1, 13)}
        assert len(names) == 12
    assert format_date(datetime(2025, 12, 31, 20, 0, tzinfo=ZoneInfo("UTC")), "ru") == (
        "1 января 2026"
    )


def test_embed_links_open_the_source_in_a_new_tab_and_has_no_javascript() -> None:
    page = render_embed(SAMPLE, title="<b>News</b>", ui_lang="en", theme="dark").decode()
    parsed = Tags(page)
    links = parsed.named("a")
    assert [a["href"] for a in links] == [xml_safe(i.link) for i in SAMPLE]
    assert all(a["target"] == "_blank" and a["rel"] == "noopener" for a in links)
    assert parsed.named("script") == []
    assert not re.search(r"\son[a-z]+=", page)
    assert "&lt;b&gt;News&lt;/b&gt;" in page
    assert "<img" not in page
    assert "&lt;обзора&gt;" in page


def test_embed_themes_differ_and_empty_widget_says_so() -> None:
    light = render_embed([], title="T", ui_lang="ru", theme="light").decode()
    dark = render_embed([], title="T", ui_lang="ru", theme="dark").decode()
    assert "color-scheme:light" in light
    assert "color-scheme:dark" in dark
    assert "Пока нет новостей." in light
    assert "--bg:#ffffff" in light
    assert "--bg:#0d1117" in dark


# --------------------------------------------------------------------------- icon, imports


def test_icon_is_a_square_svg() -> None:
    svg = ElementTree.fromstring(ICON_SVG)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.get("width") == svg.get("height")


def test_render_reads_no_clock_environment_or_randomness() -> None:
    """Same input, same bytes: nothing in render.py may depend on when or where it runs.

    (That feedgen is imported only here is checked by tests/test_layers.py.)
    """
    tree = ast.parse((ROOT / "aggregator" / "render.py").read_text("utf-8"))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}  # fmt: skip
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules & {"os", "time", "random", "secrets", "uuid", "socket", "locale"} == set()
    calls = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"now", "today", "utcnow", "environ"}
    }
    assert calls == set()


# --------------------------------------------------------------------------- feedcheck


def sample_feeds() -> dict[str, bytes]:
    """The Atom and RSS files feedcheck judges: mixed, single-language, paged and empty."""
    return {
        "all.atom": render_atom(feed_doc()),
        "all.rss": render_rss(feed_doc()),
        "ecogeo-ru.atom": render_atom(feed_doc(FeedKey("ecogeo", "ru"), (SAMPLE[1],))),
        "ecogeo-ru.rss": render_rss(feed_doc(FeedKey("ecogeo", "ru"), (SAMPLE[1],))),
        "paged-en.atom": render_atom(
            feed_doc(FeedKey(ALL, "en"), (SAMPLE[0], SAMPLE[4], SAMPLE[5]), next_url=f"{BASE}p2")
        ),
        "empty.atom": render_atom(feed_doc(FeedKey("economy", "kk"), ())),
        "empty.rss": render_rss(feed_doc(FeedKey("economy", "kk"), ())),
    }


def test_feedcheck_passes_on_every_sample_feed(tmp_path: Path) -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"feedcheck needs {' and '.join(missing)}, not installed")
    failures = []
    for name, data in sample_feeds().items():
        path = tmp_path / name
        path.write_bytes(data)
        done = subprocess.run(
            [str(FEEDCHECK), str(path)], capture_output=True, text=True, timeout=600, check=False
        )
        passed = set(re.findall(r"^PASS\s+(\S+)", done.stdout, re.MULTILINE))
        expected = {"xml-wellformed", "feedparser", "rss-parser", "cross-parser-agreement"}
        if done.returncode != 0 or "FAIL" in done.stdout or not expected <= passed:
            failures.append(f"{name} (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    assert not failures, "\n".join(failures)
