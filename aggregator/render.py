"""Feeds (Atom, RSS 2.0, JSON Feed 1.1), the index page, OPML and the embeddable widget.

Pure: every function here turns plain data (:class:`~aggregator.model.Item` and the small
records below) into bytes. No I/O, no clock, no database, no Flask; the same input gives the
same bytes. This is the only module of the project that imports feedgen.

feedgen 1.0.0 needs three corrections, made here: it prepends entries unless told to append,
it defaults every ``updated`` to now, and it writes an Atom entry's links without their
``rel``, ``type``, ``hreflang`` and ``title`` (the :class:`_EntryExtension` rewrites them).
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from feedgen.feed import FeedGenerator

from aggregator import __version__
from aggregator.agencies import agency
from aggregator.model import ALL, LANGS, FeedKey, Item, Lang, Translation

ALMATY = ZoneInfo("Asia/Almaty")

#: ``updated`` of a feed without entries: a fixed instant, never the current time.
EMPTY_FEED_UPDATED = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5)))

GENERATOR_NAME = "govkz-feeds"
GENERATOR_URI = "https://github.com/govkz-feeds/govkz-feeds"
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
SUMMARY_LENGTH = 280

INDEX_PATH = "index.html"
OPML_PATH = "feeds.opml"
ICON_PATH = "icon.svg"
INDEX_CONTENT_TYPE = "text/html; charset=utf-8"
EMBED_CONTENT_TYPE = "text/html; charset=utf-8"
OPML_CONTENT_TYPE = "text/x-opml; charset=utf-8"
ICON_CONTENT_TYPE = "image/svg+xml"

#: Each language named in itself, as a reader of that language looks for it.
LANGUAGE_NAMES: Mapping[Lang, str] = MappingProxyType(
    {"kk": "Қазақша", "ru": "Русский", "en": "English"}
)

ICON_SVG: bytes = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
    b'<rect width="64" height="64" rx="12" fill="#00afca"/>'
    b'<circle cx="18" cy="46" r="6" fill="#fec50c"/>'
    b'<path fill="#fec50c" d="M12 26a26 26 0 0 1 26 26h-8a18 18 0 0 0-18-18z'
    b'M12 10a42 42 0 0 1 42 42h-8a34 34 0 0 0-34-34z"/>'
    b"</svg>\n"
)

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ATOM_NS = "http://www.w3.org/2005/Atom"

# XML 1.0 allows TAB, LF, CR and everything from U+0020 except surrogates, U+FFFE and U+FFFF.
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")

_ALL_AGENCIES: Mapping[Lang | None, str] = MappingProxyType(
    {
        None: "gov.kz — all agencies",
        "en": "gov.kz — all agencies",
        "ru": "gov.kz — все ведомства",
        "kk": "gov.kz — барлық мемлекеттік органдар",
    }
)
_SUBTITLES: Mapping[Lang | None, str] = MappingProxyType(
    {
        None: "Press releases from gov.kz in Kazakh, Russian and English",
        "en": "Press releases from gov.kz in English",
        "ru": "Пресс-релизы с gov.kz на русском языке",
        "kk": "gov.kz сайтындағы баспасөз релиздері, қазақ тілінде",
    }
)
_NOTHING_YET: Mapping[Lang, str] = MappingProxyType(
    {"kk": "Әзірге жаңалық жоқ.", "ru": "Пока нет новостей.", "en": "No press releases yet."}
)
_MONTHS: Mapping[Lang, tuple[str, ...]] = MappingProxyType(
    {
        "en": (
            "January", "February", "March", "April", "May", "June",
            "July", "August", "September", "October", "November", "December",
        ),
        # Russian dates use the genitive: "14 февраля 2025".
        "ru": (
            "января", "февраля", "марта", "апреля", "мая", "июня",
            "июля", "августа", "сентября", "октября", "ноября", "декабря",
        ),
        "kk": (
            "қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым",
            "шілде", "тамыз", "қыркүйек", "қазан", "қараша", "желтоқсан",
        ),
    }
)  # fmt: skip
_IMAGE_TYPES: Mapping[str, str] = MappingProxyType(
    {
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".png": "image/png",
        ".gif": "image/gif",
        ".webp": "image/webp",
        ".avif": "image/avif",
        ".svg": "image/svg+xml",
    }
)


# --------------------------------------------------------------------------- records


def _check_base_url(base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or not base_url.endswith("/"):
        raise ValueError(f"base_url must be an absolute http(s) URL ending in '/': {base_url!r}")


@dataclass(frozen=True, slots=True)
class FeedDoc:
    """One feed to render: ``items`` are already chosen and ordered newest first."""

    key: FeedKey
    items: Sequence[Item]
    base_url: str
    #: RFC 5005 paging: the URL of the next (older) page, written as ``rel="next"``.
    next_url: str | None = None
    #: Where the feed is published; defaults to :func:`feed_url` for the format rendered.
    self_url: str | None = None

    def __post_init__(self) -> None:
        _check_base_url(self.base_url)

    def url(self, extension: str) -> str:
        return self.self_url or feed_url(self.base_url, self.key, extension)


@dataclass(frozen=True, slots=True)
class AgencySummary:
    slug: str
    counts: Mapping[Lang, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class SiteDoc:
    """What the index page and the OPML list: the agencies and the newest items."""

    base_url: str
    agencies: Sequence[AgencySummary]
    newest: Sequence[Item] = ()

    def __post_init__(self) -> None:
        _check_base_url(self.base_url)


# --------------------------------------------------------------------------- small helpers


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (they would make the document invalid)."""
    return _NOT_XML_CHARS.sub("", text)


def _one_line(text: str) -> str:
    return " ".join(xml_safe(text).split())


def _esc(text: str) -> str:
    """Text made safe for HTML element content and quoted attribute values."""
    return html.escape(xml_safe(text), quote=True)


def _local(moment: datetime) -> datetime:
    """The instant in Almaty time, to the second; a naive datetime is a bug upstream."""
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: items carry aware datetimes")
    return moment.astimezone(ALMATY).replace(microsecond=0)


def rfc3339(moment: datetime) -> str:
    """``2025-02-14T00:00:00+05:00``."""
    return _local(moment).isoformat()


def format_date(moment: datetime, lang: Lang) -> str:
    """The Almaty date as a reader of ``lang`` writes it: "14 February 2025",
    "14 февраля 2025", "2025 жылғы 14 ақпан"."""
    day = _local(moment)
    month = _MONTHS[lang][day.month - 1]
    if lang == "kk":
        return f"{day.year} жылғы {day.day} {month}"
    return f"{day.day} {month} {day.year}"


def summarize(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """The first ``limit`` characters of ``text`` on one line, cut at a word, "…" when cut."""
    flat = " ".join(xml_safe(text).split())
    if len(flat) <= limit:
        return flat
    head = flat[: limit + 1]
    space = head.rfind(" ")
    # A text without spaces in its second half is cut mid-word rather than losing half.
    head = head[:space] if space > limit // 2 else flat[:limit]
    return head.rstrip(" ,;:.-–—") + "…"


def feed_url(base_url: str, key: FeedKey, extension: str) -> str:
    """``{base_url}{scope}.atom`` or ``{base_url}{scope}/{lang}.atom``."""
    return f"{base_url}{key.path_stem}.{extension}"


def feed_keys(slugs: Iterable[str]) -> tuple[FeedKey, ...]:
    """Every feed published: ``all`` and then each agency, each in every language and alone."""
    scopes = [ALL, *(slug for slug in slugs if slug != ALL)]
    return tuple(FeedKey(scope, lang) for scope in scopes for lang in (None, *LANGS))


def scope_name(scope: str, lang: Lang | None) -> str:
    """The agency's name in ``lang`` (English for every language), or "gov.kz — all agencies"."""
    if scope == ALL:
        return _ALL_AGENCIES[lang]
    return _one_line(agency(scope).name(lang))


def feed_title(key: FeedKey) -> str:
    """Named in the feed's language; a feed of every language in English, marked as such."""
    name = scope_name(key.scope, key.lang)
    return name if key.lang is not None else f"{name} (kk · ru · en)"


def feed_subtitle(key: FeedKey) -> str:
    return _SUBTITLES[key.lang]


def _image_type(url: str) -> str:
    suffix = posixpath.splitext(urlsplit(url).path.lower())[1]
    # gov.kz serves photographs; an RSS enclosure must name some type.
    return _IMAGE_TYPES.get(suffix, "image/jpeg")


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True, slots=True)
class _Entry:
    """An item as every format shows it: cleaned of XML-forbidden characters, HTML built."""

    id: str
    title: str
    lang: Lang
    author: str
    published: datetime
    updated: datetime
    content_html: str
    summary: str
    category: str | None
    image: str | None
    translations: tuple[Translation, ...]


def _translations(item: Item) -> tuple[Translation, ...]:
    """Other languages of the item, one each, in the order kk, ru, en."""
    by_lang: dict[Lang, Translation] = {}
    for translation in item.translations:
        if translation.lang != item.lang and translation.lang not in by_lang:
            by_lang[translation.lang] = Translation(
                translation.lang,
                _one_line(translation.title) or LANGUAGE_NAMES[translation.lang],
                xml_safe(translation.link),
            )
    return tuple(by_lang[lang] for lang in LANGS if lang in by_lang)


def paragraphs_html(text: str) -> str:
    """Plain text as escaped ``<p>`` paragraphs: a blank line separates them, a newline is
    a ``<br>``. Markup written in a digest arrives as visible text."""
    text = xml_safe(text).replace("\r\n", "\n").replace("\r", "\n")
    found = []
    for block in _BLANK_LINE.split(text):
        lines = [_esc(line.strip()) for line in block.split("\n") if line.strip()]
        if lines:
            found.append("<p>" + "<br>".join(lines) + "</p>")
    return "\n".join(found)


def _also_in(translations: Sequence[Translation]) -> str:
    links = [
        f'<a href="{_esc(t.link)}" hreflang="{t.lang}" lang="{t.lang}">{LANGUAGE_NAMES[t.lang]}</a>'
        for t in translations
    ]
    return "<p>Also in: " + " · ".join(links) + "</p>" if links else ""


def content_html(item: Item) -> str:
    """The entry's HTML: image, the sanitised source body or the digest's paragraphs, and
    the links to its other languages."""
    enrichment = item.enrichment
    body_html = xml_safe(enrichment.body_html or "") if enrichment is not None else ""
    image = xml_safe(enrichment.image or "") if enrichment is not None else ""
    body = body_html or paragraphs_html(item.text)
    parts = []
    if image and image not in body and html.escape(image) not in body:
        parts.append(f'<p><img src="{_esc(image)}" alt=""></p>')
    parts.append(body)
    parts.append(_also_in(_translations(item)))
    return "\n".join(part for part in parts if part)


def _entry(item: Item) -> _Entry:
    link = xml_safe(item.link)
    image = item.enrichment.image if item.enrichment is not None else None
    category = _one_line(item.category or "")
    return _Entry(
        id=link,
        title=_one_line(item.title) or link,
        lang=item.lang,
        author=_one_line(agency(item.agency).name(item.lang)),
        published=_local(item.effective_published),
        updated=_local(item.effective_updated),
        content_html=content_html(item),
        # An item without text is summarised by its title, so every format has a summary.
        summary=summarize(item.text) or _one_line(item.title) or link,
        category=category or None,
        image=xml_safe(image) if image else None,
        translations=_translations(item),
    )


def feed_updated(items: Iterable[Item]) -> datetime:
    """The newest ``updated`` of the entries, or :data:`EMPTY_FEED_UPDATED`: never now."""
    return max((_local(item.effective_updated) for item in items), default=EMPTY_FEED_UPDATED)


# --------------------------------------------------------------------------- Atom and RSS


class _FeedExtension:
    """feedgen feed extension: the RFC 5005 ``next`` link in RSS (Atom has it natively)."""

    def __init__(self) -> None:
        self.next_url: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_atom(self, feed: Any) -> Any:
        return feed

    def extend_rss(self, rss: Any) -> Any:
        if self.next_url:
            channel = rss.find("channel")
            link = channel.makeelement(
                f"{{{_ATOM_NS}}}link",
                {"href": self.next_url, "rel": "next", "type": FORMATS["rss"].media_type},
            )
            self_link = channel.find(f"{{{_ATOM_NS}}}link")
            position = channel.index(self_link) + 1 if self_link is not None else len(channel)
            channel.insert(position, link)
        return rss


class _EntryExtension:
    """feedgen entry extension writing the Atom entry's ``xml:lang`` and its links.

    feedgen 1.0.0 drops every attribute of an entry link but ``href``, so the links it wrote
    are replaced, in place, by ours: the alternate first, then enclosure and related.
    """

    def __init__(self) -> None:
        self.lang: str | None = None
        self.links: list[dict[str, str]] = []

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_atom(self, entry: Any) -> Any:
        if self.lang:
            entry.set(_XML_LANG, self.lang)
        written = entry.findall("link")
        position = entry.index(written[0]) if written else len(entry)
        for link in written:
            entry.remove(link)
        for offset, attributes in enumerate(self.links):
            entry.insert(position + offset, entry.makeelement("link", attributes))
        return entry

    def extend_rss(self, item: Any) -> Any:
        return item


def _atom_links(entry: _Entry) -> list[dict[str, str]]:
    links = [{"rel": "alternate", "type": "text/html", "hreflang": entry.lang, "href": entry.id}]
    if entry.image:
        links.append({"rel": "enclosure", "type": _image_type(entry.image), "href": entry.image})
    for t in entry.translations:
        related = {"rel": "related", "type": "text/html", "hreflang": t.lang, "title": t.title}
        links.append({**related, "href": t.link})
    return links


def _add_entry(generator: Any, entry: _Entry) -> None:
    fe = generator.add_entry(order="append")
    fe.guid(entry.id, permalink=True)
    fe.title(entry.title)
    fe.link(href=entry.id, rel="alternate")
    fe.updated(entry.updated)
    fe.published(entry.published)
    fe.author(name=entry.author)
    fe.dc.dc_creator(entry.author)
    if entry.content_html:
        fe.content(entry.content_html, type="html")
    # RSS readers take <description> as HTML, so the plain summary goes in escaped;
    # feedgen writes the same value as the Atom summary, hence type="html" there.
    fe.summary(html.escape(entry.summary, quote=False), type="html")
    if entry.category:
        fe.category(term=entry.category)
    if entry.image:
        fe.enclosure(entry.image, 0, _image_type(entry.image))
    fe.govkz.lang = entry.lang
    fe.govkz.links = _atom_links(entry)


def _generator(doc: FeedDoc, extension: str) -> Any:
    media_type = FORMATS[extension].media_type
    self_url = xml_safe(doc.url(extension))
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.register_extension("govkz", _FeedExtension, _EntryExtension, atom=True, rss=True)
    fg.id(self_url)
    fg.title(feed_title(doc.key))
    fg.subtitle(feed_subtitle(doc.key))
    fg.link(href=self_url, rel="self", type=media_type)
    if doc.next_url:
        fg.link(href=xml_safe(doc.next_url), rel="next", type=media_type)
        fg.govkz.next_url = xml_safe(doc.next_url)
    # Last, because feedgen takes the RSS channel <link> from the last link.
    fg.link(href=xml_safe(doc.base_url) + INDEX_PATH, rel="alternate", type="text/html")
    fg.updated(feed_updated(doc.items))  # also the RSS lastBuildDate
    fg.generator(GENERATOR_NAME, version=__version__, uri=GENERATOR_URI)
    fg.icon(xml_safe(doc.base_url) + ICON_PATH)
    if doc.key.lang is not None:
        fg.language(doc.key.lang)
    for item in doc.items:
        _add_entry(fg, _entry(item))
    return fg


def render_atom(doc: FeedDoc) -> bytes:
    """An Atom 1.0 (RFC 4287) feed."""
    data: bytes = _generator(doc, "atom").atom_str(pretty=True, encoding="UTF-8")
    return data


def render_rss(doc: FeedDoc) -> bytes:
    """An RSS 2.0 feed with ``content:encoded``, ``dc:creator`` and an ``atom:link`` self."""
    data: bytes = _generator(doc, "rss").rss_str(pretty=True, encoding="UTF-8")
    return data


# --------------------------------------------------------------------------- JSON Feed


def _json_item(entry: _Entry) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": entry.id,
        "url": entry.id,
        "title": entry.title,
        "content_html": entry.content_html,
    }
    found["summary"] = entry.summary
    if entry.image:
        found["image"] = entry.image
    found["date_published"] = entry.published.isoformat()
    found["date_modified"] = entry.updated.isoformat()
    found["authors"] = [{"name": entry.author}]
    found["language"] = entry.lang
    if entry.category:
        found["tags"] = [entry.category]
    found["_govkz"] = {
        "translations": [
            {"language": t.lang, "title": t.title, "url": t.link} for t in entry.translations
        ]
    }
    return found


def render_json(doc: FeedDoc) -> bytes:
    """A JSON Feed 1.1; translations go in the ``_govkz`` extension object of each item."""
    base_url = xml_safe(doc.base_url)
    feed: dict[str, Any] = {
        "version": JSONFEED_VERSION,
        "title": feed_title(doc.key),
        "description": feed_subtitle(doc.key),
        "home_page_url": base_url + INDEX_PATH,
        "feed_url": xml_safe(doc.url("json")),
    }
    if doc.next_url:
        feed["next_url"] = xml_safe(doc.next_url)
    feed["icon"] = base_url + ICON_PATH
    feed["favicon"] = base_url + ICON_PATH
    if doc.key.lang is not None:
        feed["language"] = doc.key.lang
    if doc.key.scope == ALL:
        feed["authors"] = [{"name": "gov.kz", "url": "https://www.gov.kz/"}]
    else:
        feed["authors"] = [{"name": scope_name(doc.key.scope, doc.key.lang)}]
    feed["items"] = [_json_item(_entry(item)) for item in doc.items]
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


class FeedFormat(NamedTuple):
    """How the web app serves and the static build writes one format: ``ext -> this``."""

    content_type: str
    render: Callable[[FeedDoc], bytes]

    @property
    def media_type(self) -> str:
        return self.content_type.split(";")[0]


FORMATS: Mapping[str, FeedFormat] = MappingProxyType(
    {
        "atom": FeedFormat("application/atom+xml; charset=utf-8", render_atom),
        "rss": FeedFormat("application/rss+xml; charset=utf-8", render_rss),
        "json": FeedFormat("application/feed+json; charset=utf-8", render_json),
    }
)


# --------------------------------------------------------------------------- index page

_PAGE_TITLE = "gov.kz press releases as feeds"
_FORMAT_LABELS: Mapping[str, str] = MappingProxyType({"atom": "Atom", "rss": "RSS", "json": "JSON"})

_INDEX_CSS = """
body{margin:0 auto;max-width:60rem;padding:1rem;font:16px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff}
a{color:#0969da}
h1{font-size:1.6rem;margin:.5rem 0}
h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
h3{margin:1.5rem 0 .25rem;font-size:1.1rem}
.names{margin:0;color:#59636e}
table{border-collapse:collapse;margin:.5rem 0}
th,td{padding:.2rem .8rem .2rem 0;text-align:left}
td.count{text-align:right}
ol.newest{padding-left:1.2rem}
ol.newest li{margin:.4rem 0}
.meta{color:#59636e;font-size:.9em}
@media (prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}
a{color:#4493f8}.names,.meta{color:#9198a1}h2{border-color:#3d444d}}
"""


def _autodiscovery() -> list[str]:
    """``<link rel="alternate">`` to all.atom, all.rss, all.json and all/{lang}.atom."""
    found = [(FeedKey(), extension) for extension in FORMATS]
    found += [(FeedKey(ALL, lang), "atom") for lang in LANGS]
    return [
        f'<link rel="alternate" type="{FORMATS[ext].media_type}" '
        f'title="{_esc(feed_title(key))} · {_FORMAT_LABELS[ext]}" href="{key.path_stem}.{ext}">'
        for key, ext in found
    ]


def _feed_table(scope: str, counts: Mapping[Lang, int]) -> str:
    rows = []
    for lang in (None, *LANGS):
        key = FeedKey(scope, lang)
        label = (
            "All languages"
            if lang is None
            else f'<span lang="{lang}">{LANGUAGE_NAMES[lang]}</span>'
        )
        count = sum(counts.values()) if lang is None else counts.get(lang, 0)
        links = " · ".join(
            f'<a href="{_esc(key.path_stem)}.{ext}" type="{FORMATS[ext].media_type}">'
            f"{_FORMAT_LABELS[ext]}</a>"
            for ext in FORMATS
        )
        rows.append(f'<tr><td>{label}</td><td class="count">{count}</td><td>{links}</td></tr>')
    return (
        "<table>\n<thead><tr><th>Language</th><th>Items</th><th>Feeds</th></tr></thead>\n"
        "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
    )


def _agency_section(summary: AgencySummary) -> str:
    named = agency(summary.slug)
    names = " · ".join(
        f'<span lang="{lang}">{_esc(_one_line(named.name(lang)))}</span>' for lang in ("kk", "ru")
    )
    return (
        f'<section id="{_esc(summary.slug)}">\n'
        f'<h3 lang="en">{_esc(_one_line(named.en))}</h3>\n'
        f'<p class="names">{names}</p>\n'
        f"{_feed_table(summary.slug, summary.counts)}\n</section>"
    )


def _newest_list(items: Sequence[Item]) -> str:
    """Items as a list of linked titles with agency and date, in each item's language."""
    lines = []
    for item in items:
        entry = _entry(item)
        lang = entry.lang
        lines.append(
            f'<li lang="{entry.lang}"><a href="{_esc(entry.id)}" hreflang="{entry.lang}">'
            f"{_esc(entry.title)}</a> "
            f'<span class="meta">{_esc(entry.author)} · <time datetime="{rfc3339(entry.published)}"'
            f' lang="{lang}">{format_date(entry.published, lang)}</time></span></li>'
        )
    return "\n".join(lines)


def render_index(site: SiteDoc) -> bytes:
    """The human page: every agency and its feeds with counts, the newest items, OPML.

    Links between our own files are relative, so the static build works in a sub-folder.
    """
    totals: dict[Lang, int] = {
        lang: sum(summary.counts.get(lang, 0) for summary in site.agencies) for lang in LANGS
    }
    newest = (
        f'<ol class="newest">\n{_newest_list(site.newest)}\n</ol>'
        if site.newest
        else f"<p>{_NOTHING_YET['en']}</p>"
    )
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_PAGE_TITLE}</title>",
        f'<link rel="icon" href="{ICON_PATH}" type="{ICON_CONTENT_TYPE}">',
        *_autodiscovery(),
        f"<style>{_INDEX_CSS}</style>",
    ]
    body = [
        f"<header>\n<h1>{_PAGE_TITLE}</h1>",
        "<p>Press releases of the agencies of Kazakhstan published on "
        '<a href="https://www.gov.kz/">gov.kz</a>, as Atom, RSS and JSON feeds, '
        "in Kazakh, Russian and English.</p>",
        f'<p><a href="{OPML_PATH}" type="text/x-opml">Every feed as OPML</a> '
        "(import it into a feed reader).</p>\n</header>",
        "<main>",
        '<section id="all">\n<h2>All agencies</h2>',
        _feed_table(ALL, totals),
        "</section>",
        '<section id="agencies">\n<h2>Agencies</h2>',
        *(_agency_section(summary) for summary in site.agencies),
        "</section>",
        f'<section id="newest">\n<h2>Newest press releases</h2>\n{newest}\n</section>',
        "</main>",
        f'<footer><p class="meta">{GENERATOR_NAME} {__version__}</p></footer>',
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n'
        + "\n".join(head)
        + "\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    return page.encode("utf-8")


# --------------------------------------------------------------------------- OPML


def _opml_scope(site: SiteDoc, parent: ElementTree.Element, scope: str) -> None:
    name = scope_name(scope, None)
    outline = ElementTree.SubElement(parent, "outline", {"text": name, "title": name})
    for lang in (None, *LANGS):
        key = FeedKey(scope, lang)
        title = feed_title(key)
        attributes = {
            "type": "rss",
            "text": title,
            "title": title,
            "xmlUrl": xml_safe(feed_url(site.base_url, key, "atom")),
            "htmlUrl": xml_safe(site.base_url) + INDEX_PATH,
        }
        if lang is not None:
            attributes["language"] = lang
        ElementTree.SubElement(outline, "outline", attributes)


def render_opml(site: SiteDoc) -> bytes:
    """OPML 2.0 listing every Atom feed: ``all`` first, then one outline per agency."""
    root = ElementTree.Element("opml", {"version": "2.0"})
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = _PAGE_TITLE
    ElementTree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ElementTree.SubElement(root, "body")
    _opml_scope(site, body, ALL)
    for summary in site.agencies:
        if summary.slug != ALL:
            _opml_scope(site, body, summary.slug)
    ElementTree.indent(root)
    data: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


# --------------------------------------------------------------------------- embed widget

_EMBED_THEMES: Mapping[str, str] = MappingProxyType(
    {
        "light": "color-scheme:light;--fg:#1f2328;--bg:#ffffff;--link:#0969da;"
        "--muted:#59636e;--rule:#d0d7de",
        "dark": "color-scheme:dark;--fg:#e6edf3;--bg:#0d1117;--link:#4493f8;"
        "--muted:#9198a1;--rule:#3d444d",
    }
)

_EMBED_CSS = """
:root{%s}
body{margin:0;padding:.75rem;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,
sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1rem;margin:0 0 .5rem}
ul{list-style:none;margin:0;padding:0}
li{padding:.4rem 0;border-top:1px solid var(--rule)}
a{color:var(--link);text-decoration:none}
a:hover,a:focus{text-decoration:underline}
time{display:block;font-size:.85em;color:var(--muted)}
p{color:var(--muted);margin:0}
"""


def render_embed(
    items: Sequence[Item], *, title: str, ui_lang: Lang, theme: Literal["light", "dark"]
) -> bytes:
    """A self-contained HTML widget of the latest items for an ``<iframe>``; no JavaScript."""
    rows = []
    for item in items:
        entry = _entry(item)
        rows.append(
            f'<li lang="{entry.lang}"><a href="{_esc(entry.id)}" hreflang="{entry.lang}" '
            f'target="_blank" rel="noopener">{_esc(entry.title)}</a>'
            f'<time datetime="{rfc3339(entry.published)}" lang="{ui_lang}">'
            f"{format_date(entry.published, ui_lang)}</time></li>"
        )
    listing = "<ul>\n" + "\n".join(rows) + "\n</ul>" if rows else f"<p>{_NOTHING_YET[ui_lang]}</p>"
    heading = _esc(_one_line(title))
    page = (
        f'<!DOCTYPE html>\n<html lang="{ui_lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{heading}</title>\n"
        f"<style>{_EMBED_CSS % _EMBED_THEMES[theme]}</style>\n"
        f"</head>\n<body>\n<h1>{heading}</h1>\n{listing}\n</body>\n</html>\n"
    )
    return page.encode("utf-8")
