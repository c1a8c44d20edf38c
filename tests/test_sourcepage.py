"""Reading gov.kz items: API JSON, rendered pages, the shell, dates, encodings.

Data-driven where it can be: every sample under ``tests/data/govkz/news`` is rendered by the
fake (API JSON and HTML) and must read back as itself, and every ``pages/*.html`` is checked
against the ``*.expected.json`` beside it.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.fakegovkz import (
    HOSTILE_BODY,
    SampleArticle,
    api_item,
    load_articles,
    render_detail_page,
    spa_shell,
)
from aggregator.sourcepage import (
    ALMATY,
    Article,
    SourcePageError,
    decode_text,
    looks_like_mojibake,
    parse_api_item,
    parse_api_list,
    parse_api_time,
    parse_date_line,
    parse_detail_page,
)
from tests.conftest import DATA

GOVKZ = DATA / "govkz"
ORIGIN = "https://www.gov.kz"
ARTICLES = load_articles(GOVKZ)
VERSIONS = [
    pytest.param(article, lang, id=f"{news_id}-{lang}")
    for news_id, article in ARTICLES.items()
    for lang in article.versions
]
PAGES = sorted((GOVKZ / "pages").glob("*.html"))


def almaty(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=ALMATY)


def paragraphs(article: Article) -> int:
    return article.body_html.count("<p>")


def expected_published(sample: SampleArticle) -> datetime:
    return sample.published.replace(tzinfo=ALMATY)


# --- dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("14 июля 2026 11:58", almaty(2026, 7, 14, 11, 58)),
        ("13 июля 2026", almaty(2026, 7, 13)),
        ("1 февраля 2025 г. 09:05", almaty(2025, 2, 1, 9, 5)),
        ("  14   Июля 2026\n11:58 ", almaty(2026, 7, 14, 11, 58)),
        ("14 шілде 2026 11:58", almaty(2026, 7, 14, 11, 58)),
        ("14 ақпан 2025 11:58", almaty(2025, 2, 14, 11, 58)),
        ("2025 жылғы 14 ақпан", almaty(2025, 2, 14)),
        ("2025 жылғы 26 наурыз, 10:00", almaty(2025, 3, 26, 10, 0)),
        ("5 желтоқсан 2025 ж. 18:30", almaty(2025, 12, 5, 18, 30)),
        ("3 қыркүйек 2025", almaty(2025, 9, 3)),
        ("14 February 2025 11:58", almaty(2025, 2, 14, 11, 58)),
        ("February 14, 2025 11:58", almaty(2025, 2, 14, 11, 58)),
        ("July 13, 2026 at 4:05 PM", almaty(2026, 7, 13, 16, 5)),
        ("Jan 2, 2026 12:10 am", almaty(2026, 1, 2, 0, 10)),
        ("Sept 1st, 2025", almaty(2025, 9, 1)),
        ("14.07.2026 11:58", almaty(2026, 7, 14, 11, 58)),
        ("14.07.2026 11:58:02 1345", almaty(2026, 7, 14, 11, 58, 2)),
        ("Опубликовано: 13 июля 2026 09:00", almaty(2026, 7, 13, 9, 0)),
    ],
)
def test_date_lines_in_three_languages(line: str, expected: datetime) -> None:
    assert parse_date_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "12 февраля 2025 года Министерство национальной экономики провело семинар",
        "31.02.2025",
        "31 июня 2025 10:00",
        "14 июля 2026 25:61",
        "14 Julyy 2026",
        "Today",
        "",
        "14 июля 2026 " + "x" * 120,
    ],
)
def test_text_that_is_not_a_date_line(line: str) -> None:
    assert parse_date_line(line) is None


@pytest.mark.parametrize(
    ("value", "rule", "expected"),
    [
        ("2026-02-17T10:00:00.000+00:00", "local", almaty(2026, 2, 17, 10, 0)),
        ("2026-02-17T10:00:00.000+00:00", "utc", almaty(2026, 2, 17, 15, 0)),
        ("2026-02-17T21:30:00.000+00:00", "utc", almaty(2026, 2, 18, 2, 30)),
        ("2026-02-17T00:00:00.000+00:00", "local", almaty(2026, 2, 17)),
        ("2026-02-17T00:00:00.000+00:00", "utc", almaty(2026, 2, 17)),
        ("2026-02-17T10:00:00Z", "utc", almaty(2026, 2, 17, 15, 0)),
        ("2026-02-17T10:00:00+05:00", "local", almaty(2026, 2, 17, 10, 0)),
        ("2026-02-17T10:00:00+06:00", "utc", almaty(2026, 2, 17, 9, 0)),
        ("2025-02-14T19:43:22", "utc", almaty(2025, 2, 14, 19, 43, 22)),
        ("yesterday", "local", None),
    ],
)
def test_api_time_rule_both_ways(value: str, rule: Any, expected: datetime | None) -> None:
    assert parse_api_time(value, rule) == expected


def test_api_time_before_2024_uses_the_old_offset() -> None:
    # Kazakhstan moved from UTC+6 to UTC+5 on 2024-03-01: zoneinfo knows, we do not hard-code.
    published = parse_api_time("2023-06-01T04:00:00.000+00:00", "utc")
    assert published == almaty(2023, 6, 1, 10, 0)
    assert published is not None
    offset = published.utcoffset()
    assert offset is not None
    assert offset.total_seconds() == 6 * 3600


def test_unknown_api_time_rule_is_a_bug() -> None:
    with pytest.raises(ValueError, match="rule"):
        parse_api_time("2026-02-17T10:00:00.000+00:00", "astana")  # type: ignore[arg-type]


# --- decoding ----------------------------------------------------------------------------

GENUINE = [
    "Туркестан получит особый статус: сенаторы одобрили закон «Об особом статусе» — Ё, ё, №5",
    "Қазақстан үшінші Ерікті ұлттық шолуды талқылауға кірісті: әңгіме, өнер, үміт, һ",
    "Don’t miss the “Activity BOOM” card – 50% off at the café in Zürich, naïve façade",
    "Plain ASCII only.",
]


@pytest.mark.parametrize("text", GENUINE)
def test_genuine_text_is_not_mojibake(text: str) -> None:
    assert not looks_like_mojibake(text)
    assert decode_text(text.encode("utf-8")) == text


@pytest.mark.parametrize("text", GENUINE[:3])
@pytest.mark.parametrize("codec", ["cp1251", "cp1252", "latin-1"])
def test_mojibake_is_rejected(text: str, codec: str) -> None:
    garbled = text.encode("utf-8").decode(codec, errors="replace")
    with pytest.raises(SourcePageError) as caught:
        decode_text(garbled.encode("utf-8"))
    assert caught.value.code in {"mojibake", "bad-encoding"}


def test_classic_mojibake_runs_are_named_as_such() -> None:
    for garbled in ("РџСЂРёРІРµС‚ РјРёСЂ", "ÐŸÑ€Ð¸Ð²ÐµÑ‚ Ð¼Ð¸Ñ€", "Donâ€™t say â€œnoâ€\x9d"):
        with pytest.raises(SourcePageError) as caught:
            decode_text(garbled)
        assert caught.value.code == "mojibake"


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(SourcePageError) as caught:
        decode_text(b"<p>\xff\xfe\xc3\x28 text</p>")
    assert caught.value.code == "bad-encoding"


def test_replacement_characters_are_rejected() -> None:
    with pytest.raises(SourcePageError) as caught:
        decode_text("Ту\ufffd\ufffdкестан \ufffd")
    assert caught.value.code == "bad-encoding"


def test_declared_charset_bom_and_meta() -> None:
    russian = "Привет, «мир» — ё"
    assert decode_text(russian.encode("cp1251"), charset="windows-1251") == russian
    assert decode_text(b"\xef\xbb\xbf" + russian.encode()) == russian
    assert decode_text(russian.encode("utf-16")) == russian
    page = f'<meta charset="windows-1251"><p>{russian}</p>'.encode("cp1251")
    assert russian in decode_text(page, html=True)
    # A page that says windows-1251 but sends UTF-8 is read as what it is.
    assert decode_text(russian.encode(), charset="windows-1251") == russian
    assert decode_text(russian.encode(), charset="no-such-charset") == russian
    with pytest.raises(SourcePageError):
        decode_text(russian.encode("cp1251"))


WORDS = st.sampled_from(
    [
        "Туркестан",
        "сенаторы",
        "ёлка",
        "№",
        "«закон»",
        "—",
        "Қазақстан",
        "әкімдік",
        "өнер",
        "Алматы",
        "café",
        "naïve",
        "“quoted”",
        "don’t",
        "tenge",
        "2025",
    ]
)


@given(st.lists(WORDS, min_size=1, max_size=40).map(" ".join))
def test_real_words_are_never_mojibake_and_their_mojibake_always_is(text: str) -> None:
    assert not looks_like_mojibake(text)
    garbled = text.encode("utf-8").decode("latin-1")
    if sum(ord(char) > 127 for char in garbled) >= 4:  # below that, too little to judge
        assert looks_like_mojibake(garbled)


# --- the content API ---------------------------------------------------------------------


def test_the_verbatim_krem_sample() -> None:
    payload = (GOVKZ / "samples" / "api-news-item-krem-1163144.json").read_bytes()
    article = parse_api_item(payload, origin=ORIGIN, api_time_rule="local")
    assert article is not None
    assert article.title is not None
    assert article.title.startswith("В области Абай снижены")
    assert article.published == almaty(2026, 2, 17, 10, 0)
    assert paragraphs(article) == 3
    assert article.images == ()
    assert article.lead_image is None
    utc = parse_api_item(payload, origin=ORIGIN, api_time_rule="utc")
    assert utc is not None
    assert utc.published == almaty(2026, 2, 17, 15, 0)


def test_api_document_body_relative_images_and_heropic() -> None:
    payload = json.dumps(
        {
            "id": 1,
            "title": "  A &quot;quoted&quot; <b>title</b> ",
            "body": (
                "<html><head><title>Not body</title><script>x()</script></head><body>"
                '<p>One.</p><p>&nbsp;</p><p><img src="/uploads/2025/2/14/b.jpeg" onerror="x()">'
                "</p><p>Two.</p></body></html>"
            ),
            "created_date": "2025-02-14T11:58:00.000+00:00",
            "heropic": "/uploads/2025/2/14/a_original.1.jpeg",
        }
    )
    article = parse_api_item(payload, origin=ORIGIN, api_time_rule="local")
    assert article == Article(
        title='A "quoted" title',
        published=almaty(2025, 2, 14, 11, 58),
        body_html=(
            '<p>One.</p><p><img src="https://www.gov.kz/uploads/2025/2/14/b.jpeg"></p><p>Two.</p>'
        ),
        images=(
            "https://www.gov.kz/uploads/2025/2/14/a_original.1.jpeg",
            "https://www.gov.kz/uploads/2025/2/14/b.jpeg",
        ),
        lead_image="https://www.gov.kz/uploads/2025/2/14/a_original.1.jpeg",
    )


@pytest.mark.parametrize(
    "payload",
    [
        '{"message": "notAllowed"}',
        '{"id": 1, "title": "", "body": ""}',
        '{"id": 1, "title": "  ", "body": "<p>&nbsp;</p><script>x</script>"}',
    ],
)
def test_api_items_without_title_or_body_are_nothing(payload: str) -> None:
    assert parse_api_item(payload, origin=ORIGIN, api_time_rule="local") is None


def test_api_item_with_title_only_keeps_the_title() -> None:
    article = parse_api_item(
        '{"title": "Only a title", "body": null, "created_date": null}',
        origin=ORIGIN,
        api_time_rule="local",
    )
    assert article == Article(title="Only a title", published=None, body_html="")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"<html>not json</html>", "bad-json"),
        (b"[1, 2]", "bad-json"),
        (b"[" * 100_000, "bad-json"),
        (b'{"title": "\xff\xfe"}', "bad-encoding"),
        ('{"title": "РџСЂРёРІРµС‚ РјРёСЂ", "body": ""}'.encode(), "mojibake"),
        (json.dumps({"title": "РџСЂРёРІРµС‚ РјРёСЂ", "body": ""}).encode(), "mojibake"),
    ],
)
def test_api_garbage_is_a_typed_error(payload: bytes, code: str) -> None:
    with pytest.raises(SourcePageError) as caught:
        parse_api_item(payload, origin=ORIGIN, api_time_rule="local")
    assert caught.value.code == code


def test_api_list_by_id_in_answer_order() -> None:
    items = [api_item(ARTICLES[i], "en", "local") for i in (932111, 928425, 963904)]
    items.insert(1, {"id": 5, "title": "", "body": ""})
    articles = parse_api_list(json.dumps(items), origin=ORIGIN, api_time_rule="local")
    assert list(articles) == ["932111", "928425", "963904"]
    assert articles["928425"].published == almaty(2025, 2, 1)
    with pytest.raises(SourcePageError):
        parse_api_list("{}", origin=ORIGIN, api_time_rule="local")


@pytest.mark.parametrize(("sample", "lang"), VERSIONS)
@pytest.mark.parametrize("rule", ["local", "utc"])
def test_every_sample_reads_back_from_the_api(sample: SampleArticle, lang: Any, rule: Any) -> None:
    payload = json.dumps(api_item(sample, lang, rule), ensure_ascii=False).encode()
    article = parse_api_item(payload, origin=ORIGIN, api_time_rule=rule)
    assert article is not None
    version = sample.versions[lang]
    assert article.title == version.title
    assert article.published == expected_published(sample)
    assert paragraphs(article) == len(version.paragraphs) + (1 if sample.body_image else 0)
    expected_images = [ORIGIN + path for path in sample.uploads]
    assert list(article.images) == expected_images
    assert article.lead_image == (expected_images[0] if expected_images else None)
    assert "<title>" not in article.body_html


# --- the detail page ---------------------------------------------------------------------


@pytest.mark.parametrize(("sample", "lang"), VERSIONS)
def test_every_sample_reads_back_from_its_rendered_page(sample: SampleArticle, lang: Any) -> None:
    url = f"{ORIGIN}{sample.detail_path}?lang={lang}"
    page = render_detail_page(sample, lang).encode()
    article = parse_detail_page(page, url=url, origin=ORIGIN)
    assert article is not None
    version = sample.versions[lang]
    assert article.title == version.title
    assert article.published == expected_published(sample)
    assert paragraphs(article) == len(version.paragraphs) + (1 if sample.body_image else 0)
    assert list(article.images) == [ORIGIN + path for path in sample.uploads]
    for chrome in ("Қызметтер", "Telegram", "© 2025", "Press"):
        assert chrome not in article.body_html
    assert version.paragraphs[0] in unescape(article.body_html)


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_an_absent_translation_is_nothing(lang: Any) -> None:
    sample = ARTICLES[929638]
    assert list(sample.versions) == ["en"]
    page = render_detail_page(sample, lang)
    assert parse_detail_page(page, url=sample.detail_path, origin=ORIGIN) is None
    payload = json.dumps(api_item(sample, lang, "local"))
    assert parse_api_item(payload, origin=ORIGIN, api_time_rule="local") is None


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_the_app_shell_is_nothing(lang: str) -> None:
    assert parse_detail_page(spa_shell(lang), url="/x", origin=ORIGIN) is None


def test_a_heading_for_browsers_without_scripts_is_not_an_article() -> None:
    page = (
        "<html><body><noscript><h1>You need to enable JavaScript</h1><p>Please.</p></noscript>"
        '<div id="root"></div><script>document.write("<h1>x</h1>")</script></body></html>'
    )
    assert parse_detail_page(page, url="/x", origin=ORIGIN) is None


def test_a_hostile_page_is_read_and_defused() -> None:
    sample = ARTICLES[937506]
    page = render_detail_page(sample, "ru", hostile=True)
    assert HOSTILE_BODY in page
    article = parse_detail_page(page, url=sample.detail_path + "?lang=ru", origin=ORIGIN)
    assert article is not None
    assert article.title == sample.versions["ru"].title
    lowered = article.body_html.lower()
    for needle in ("<script", "onerror", "onclick", "javascript:", "data:", "<svg", "<iframe"):
        assert needle not in lowered
    assert "evil.example" not in lowered


def test_a_page_without_charset_that_is_not_utf8_is_rejected() -> None:
    page = "<h1>Заголовок</h1><p>Текст</p>".encode("cp1251")
    with pytest.raises(SourcePageError) as caught:
        parse_detail_page(page, url="/x", origin=ORIGIN)
    assert caught.value.code == "bad-encoding"


def test_a_mojibake_page_is_rejected() -> None:
    page = render_detail_page(ARTICLES[937506], "ru").encode().decode("cp1251", errors="replace")
    with pytest.raises(SourcePageError) as caught:
        parse_detail_page(page.encode(), url="/x", origin=ORIGIN)
    assert caught.value.code in {"mojibake", "bad-encoding"}


def test_xml_declarations_and_base_href() -> None:
    page = (
        '<?xml version="1.0" encoding="utf-8"?><html><head><base href="/other/dir/"></head>'
        '<body><h1>T</h1><p>x <img src="pic.png"></p></body></html>'
    )
    article = parse_detail_page(page, url="https://www.gov.kz/a/b", origin=ORIGIN)
    assert article is not None
    assert article.images == ("https://www.gov.kz/other/dir/pic.png",)


def test_text_without_markup_is_nothing() -> None:
    assert parse_detail_page("just text", url="/x", origin=ORIGIN) is None


def _expected(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.with_suffix(".expected.json").read_text("utf-8"))
    return data


@pytest.mark.parametrize("page", PAGES, ids=[page.stem for page in PAGES])
def test_recorded_pages(page: Path) -> None:
    expected = _expected(page)
    article = parse_detail_page(page.read_bytes(), url=expected["url"], origin=ORIGIN)
    if expected["article"] is None:
        assert article is None
        return
    want = expected["article"]
    assert article is not None
    assert article.title == want["title"]
    published = article.published.isoformat() if article.published else None
    assert published == want["published"]
    assert paragraphs(article) == want["paragraphs"]
    assert list(article.images) == want["images"]
    assert article.lead_image == want["lead_image"]
    for text in want.get("body_contains", []):
        assert text in article.body_html
    for text in want.get("body_excludes", []):
        assert text not in article.body_html


def test_every_recorded_page_has_its_expectation() -> None:
    assert len(PAGES) >= 8
    for page in PAGES:
        assert page.with_suffix(".expected.json").exists(), page
