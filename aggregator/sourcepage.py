"""Reading a gov.kz news item, from its content-API JSON or its server-rendered page.

Pure: bytes or text in, an :class:`Article` (or ``None``) out; the only module importing
BeautifulSoup. ``None`` means "nothing usable here" (the empty single-page-app shell, an
empty translation); :class:`SourcePageError` means the input is garbage that must not be
stored (undecodable bytes, mojibake, JSON that is not a news item).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from html import unescape
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup, Tag
from bs4.element import NavigableString

from aggregator.errors import AggregatorError
from aggregator.sanitize import absolute_http_url, clean_html

ALMATY = ZoneInfo("Asia/Almaty")

ApiTimeRule = Literal["local", "utc"]


class SourcePageError(AggregatorError):
    """A source page or API answer that is garbage; ``code`` is stable kebab-case:
    ``bad-encoding``, ``mojibake`` or ``bad-json``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Article:
    """What a source page says about one news item in one language.

    ``body_html`` is sanitised (see :func:`aggregator.sanitize.clean_html`) and may be empty;
    ``images`` are absolute http(s) URLs in document order, ``lead_image`` first if known;
    ``published`` is aware (Asia/Almaty); midnight means the source gave only a date.
    """

    title: str | None
    published: datetime | None
    body_html: str
    images: tuple[str, ...] = ()
    lead_image: str | None = None


# --- decoding ----------------------------------------------------------------------------

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# Codecs a UTF-8 text is typically mis-decoded with before being re-encoded as UTF-8.
_MOJIBAKE_CODECS = ("cp1251", "cp1252", "latin-1")


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    try:
        return codecs.lookup(label.strip()).name
    except LookupError:
        return None


def _decode(data: bytes | str, *, charset: str | None, sniff_html: bool) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    for bom, bom_codec in _BOMS:
        if data.startswith(bom):
            encoding = bom_codec
            break
    else:
        declared = _codec_name(charset)
        if declared is None and sniff_html:
            found = _META_CHARSET.search(data[:4096])
            declared = _codec_name(found.group(1).decode("ascii")) if found else None
        encoding = declared or "utf-8"
        if encoding != "utf-8":
            # Valid UTF-8 with non-ASCII bytes is never legitimate single-byte text: a page
            # that declares windows-1251 but sends UTF-8 is read as what it is.
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                pass
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise SourcePageError("bad-encoding", f"not valid {encoding} at byte {exc.start}") from None


def _reencodes_as_utf8(run: str) -> bool:
    for codec in _MOJIBAKE_CODECS:
        try:
            repaired = run.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        return repaired != run
    return False


def looks_like_mojibake(text: str) -> bool:
    """True when most non-ASCII text is UTF-8 that was decoded as cp1251/cp1252/latin-1.

    Such runs ("РџСЂРёРІРµС‚", "Ð\\x9fÑ\\x80Ð¸", "â€™") turn back into valid UTF-8 when re-encoded;
    genuine Russian, Kazakh or accented Latin words practically never do.
    """
    suspicious = total = 0
    for match in _NON_ASCII_RUN.finditer(text):
        run = match.group()
        total += len(run)
        if len(run) >= 2 and _reencodes_as_utf8(run):
            suspicious += len(run)
    return suspicious >= 4 and suspicious * 2 >= total


def _reject_garbage(text: str) -> None:
    if looks_like_mojibake(text):
        raise SourcePageError("mojibake", "UTF-8 text that was decoded with a wrong charset")
    if text.count("\ufffd") >= 3:
        raise SourcePageError("bad-encoding", "text holds replacement characters")


def decode_text(data: bytes | str, *, charset: str | None = None, html: bool = False) -> str:
    """The text of ``data``: BOM, else ``charset``, else (for ``html``) a ``<meta charset>``,
    else UTF-8; strict. Raises :class:`SourcePageError` for invalid bytes or mojibake."""
    text = _decode(data, charset=charset, sniff_html=html)
    _reject_garbage(text)
    return text


# --- dates -------------------------------------------------------------------------------

MONTHS: dict[str, int] = {
    # Russian, genitive (as in dates) and nominative
    **dict.fromkeys(("января", "январь"), 1),
    **dict.fromkeys(("февраля", "февраль"), 2),
    **dict.fromkeys(("марта", "март"), 3),
    **dict.fromkeys(("апреля", "апрель"), 4),
    **dict.fromkeys(("мая", "май"), 5),
    **dict.fromkeys(("июня", "июнь"), 6),
    **dict.fromkeys(("июля", "июль"), 7),
    **dict.fromkeys(("августа", "август"), 8),
    **dict.fromkeys(("сентября", "сентябрь"), 9),
    **dict.fromkeys(("октября", "октябрь"), 10),
    **dict.fromkeys(("ноября", "ноябрь"), 11),
    **dict.fromkeys(("декабря", "декабрь"), 12),
    # Kazakh
    "қаңтар": 1, "ақпан": 2, "наурыз": 3, "сәуір": 4, "мамыр": 5, "маусым": 6,
    "шілде": 7, "тамыз": 8, "қыркүйек": 9, "қазан": 10, "қараша": 11, "желтоқсан": 12,
    # English, full and abbreviated
    **dict.fromkeys(("january", "jan"), 1),
    **dict.fromkeys(("february", "feb"), 2),
    **dict.fromkeys(("march", "mar"), 3),
    **dict.fromkeys(("april", "apr"), 4),
    "may": 5,
    **dict.fromkeys(("june", "jun"), 6),
    **dict.fromkeys(("july", "jul"), 7),
    **dict.fromkeys(("august", "aug"), 8),
    **dict.fromkeys(("september", "sept", "sep"), 9),
    **dict.fromkeys(("october", "oct"), 10),
    **dict.fromkeys(("november", "nov"), 11),
    **dict.fromkeys(("december", "dec"), 12),
}  # fmt: skip

_MONTH = "|".join(sorted(map(re.escape, MONTHS), key=len, reverse=True))
_DATE_FORMS = (
    # 14 июля 2026, 14 шілде 2026, 14 July 2026, 14 июля 2026 г.
    rf"(?P<day>\d{{1,2}})\s+(?P<month>{_MONTH})\.?,?\s+(?P<year>\d{{4}})(?:\s*(?:г\.|года|г|ж\.))?",
    # 2026 жылғы 14 шілде
    rf"(?P<year>\d{{4}})\s*(?:жылғы|ж\.)?\s+(?P<day>\d{{1,2}})\s+(?P<month>{_MONTH})",
    # July 14, 2026
    rf"(?P<month>{_MONTH})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})",
    # 14.07.2026
    r"(?P<day>\d{1,2})\.(?P<month_number>\d{1,2})\.(?P<year>\d{4})",
)
_TIME = (
    r"(?:\s*[,|•·-]?\s*(?:в|at|сағ\.?)?\s*"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?:\s*(?P<ampm>[ap]\.?m\.?))?)?"
)
# A whole line: an optional short label ("Опубликовано:"), the date, an optional time and
# an optional views counter (as on "DD.MM.YYYY HH:MM:SS 1234" lines).
_DATE_LINES = tuple(
    re.compile(rf"(?:[^\d\n]{{0,40}}:\s*)?{form}{_TIME}(?:\s+\d+)?", re.IGNORECASE)
    for form in _DATE_FORMS
)


def parse_date_line(line: str) -> datetime | None:
    """The Almaty time a whole date line such as ``14 июля 2026 11:58`` stands for, if any.

    Russian (genitive or nominative), Kazakh and English month names and ``DD.MM.YYYY`` are
    understood; a line without a time gives midnight.
    """
    text = " ".join(line.split())
    if len(text) > 100:
        return None
    for pattern in _DATE_LINES:
        match = pattern.fullmatch(text)
        if match is not None:
            return _datetime_from_match(match)
    return None


def _datetime_from_match(match: re.Match[str]) -> datetime | None:
    parts = match.groupdict()
    month = MONTHS[parts["month"].lower()] if parts.get("month") else int(parts["month_number"])
    hour = int(parts["hour"] or 0)
    ampm = (parts["ampm"] or "").replace(".", "").lower()
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    try:
        return datetime(
            int(parts["year"]),
            month,
            int(parts["day"]),
            hour,
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            tzinfo=ALMATY,
        )
    except ValueError:
        return None


def parse_api_time(value: str, rule: ApiTimeRule) -> datetime | None:
    """Read the content API's ``created_date`` (``2026-02-17T10:00:00.000+00:00``).

    ``rule="local"``: a ``+00:00`` label is wrong and the wall clock is Almaty time;
    ``"utc"``: it is real UTC. Midnight ``+00:00`` means "date only" under both rules; other
    offsets are taken at their word and a missing offset means Almaty time.
    """
    if rule not in ("local", "utc"):
        raise ValueError(f"unknown API time rule {rule!r}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    parsed = parsed.replace(microsecond=0)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=ALMATY)
    if parsed.utcoffset() == timedelta(0):
        if parsed.time() == time(0):
            return datetime.combine(parsed.date(), time(0), ALMATY)
        if rule == "local":
            return parsed.replace(tzinfo=ALMATY)
    return parsed.astimezone(ALMATY)


# --- HTML helpers ------------------------------------------------------------------------

# bs4 warns (an error under our test settings) when html.parser meets an XML declaration;
# processing instructions mean nothing in HTML anyway.
_PROCESSING_INSTRUCTION = re.compile(r"<\?.*?>", re.DOTALL)
_EMPTY_PARAGRAPH = re.compile(r"<p>(?:\s|&nbsp;|<br>)*</p>")
_TAG = re.compile(r"<[^>]*>")
_INERT = ("script", "style", "noscript", "template")
_NOT_ARTICLE = ("nav", "header", "footer", "aside", "form", "button", "script", "style")
_NOT_ARTICLE_CLASS = re.compile(r"breadcrumb|share|social|views|related|tags", re.IGNORECASE)


def _soup(markup: str) -> BeautifulSoup:
    return BeautifulSoup(_PROCESSING_INSTRUCTION.sub("", markup), "html.parser")


def _plain(text: str | None) -> str:
    return " ".join(unescape(_TAG.sub(" ", text or "")).split())


def _text_of(tag: Tag) -> str:
    return " ".join(tag.get_text(" ").split())


def _clean_body(fragment: str, base_url: str) -> str:
    return _EMPTY_PARAGRAPH.sub("", clean_html(fragment, base_url=base_url)).strip()


def _images_in(clean: str) -> tuple[str, ...]:
    found = (img.get("src") for img in _soup(f"<div>{clean}</div>").find_all("img"))
    return tuple(dict.fromkeys(src for src in found if isinstance(src, str) and src))


def _has_text(clean: str) -> bool:
    return bool(_text_of(_soup(f"<div>{clean}</div>")))


def _article(
    title: str | None, published: datetime | None, body: str, lead: str | None
) -> Article | None:
    if not _has_text(body) and not _images_in(body):
        body = ""
    if not title and not body:
        return None
    images = _images_in(body)
    if lead is not None:
        images = (lead, *(src for src in images if src != lead))
    return Article(
        title=title or None,
        published=published,
        body_html=body,
        images=images,
        lead_image=images[0] if images else None,
    )


# --- the content API ---------------------------------------------------------------------


def _document_body(html: str) -> str:
    """The inside of ``<body>`` when the API sent a whole document, else ``html`` itself."""
    if not re.search(r"<(?:html|body)[\s>]", html, re.IGNORECASE):
        return html
    body = _soup(html).find("body")
    return body.decode_contents() if isinstance(body, Tag) else html


def _api_article(item: dict[str, Any], origin: str, rule: ApiTimeRule) -> Article | None:
    title = _plain(str(item.get("title") or ""))
    raw_body = str(item.get("body") or "")
    _reject_garbage(f"{title}\n{raw_body}")
    base = origin.rstrip("/") + "/"
    body = _clean_body(_document_body(raw_body), base)
    created = item.get("created_date")
    published = parse_api_time(created, rule) if isinstance(created, str) else None
    heropic = item.get("heropic")
    lead = absolute_http_url(heropic, base) if isinstance(heropic, str) and heropic else None
    return _article(title, published, body, lead)


def _load_json(payload: bytes | str, charset: str | None) -> Any:
    text = _decode(payload, charset=charset, sniff_html=False)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SourcePageError("bad-json", f"not JSON: {exc}") from None


def parse_api_item(
    payload: bytes | str,
    *,
    origin: str,
    api_time_rule: ApiTimeRule,
    charset: str | None = None,
) -> Article | None:
    """The article in a ``/api/v1/public/content-manager/news/{id}`` answer.

    ``None`` when it holds neither a title nor a body (an empty translation, or an error
    object such as ``{"message": "notAllowed"}``). Relative URLs resolve against ``origin``.
    """
    item = _load_json(payload, charset)
    if not isinstance(item, dict):
        raise SourcePageError("bad-json", f"expected a JSON object, got {type(item).__name__}")
    return _api_article(item, origin, api_time_rule)


def parse_api_list(
    payload: bytes | str,
    *,
    origin: str,
    api_time_rule: ApiTimeRule,
    charset: str | None = None,
) -> dict[str, Article]:
    """The articles of a ``/news?projects=eq:{slug}&...`` page, by news id, in answer order."""
    items = _load_json(payload, charset)
    if not isinstance(items, list):
        raise SourcePageError("bad-json", f"expected a JSON array, got {type(items).__name__}")
    articles: dict[str, Article] = {}
    for item in items:
        if not isinstance(item, dict) or item.get("id") is None:
            continue
        article = _api_article(item, origin, api_time_rule)
        if article is not None:
            articles[str(item["id"])] = article
    return articles


# --- the detail page ---------------------------------------------------------------------


def _meta_content(soup: BeautifulSoup, prop: str) -> str | None:
    meta = soup.find("meta", attrs={"property": prop})
    content = meta.get("content") if isinstance(meta, Tag) else None
    return content if isinstance(content, str) and content.strip() else None


def _container(h1: Tag | None, article: Tag | None) -> Tag | None:
    """The element holding the article: ``<article>``, else the nearest ancestor of the
    ``<h1>`` that also holds paragraphs."""
    if article is not None:
        return article
    node = h1.parent if h1 is not None else None
    while isinstance(node, Tag) and node.name != "body" and node.find("p") is None:
        node = node.parent
    return node if isinstance(node, Tag) else None


def _strings(tag: Tag) -> Iterator[NavigableString]:
    for string in tag.find_all(string=True):
        # Exactly NavigableString: comments, doctypes and CDATA are subclasses.
        if type(string) is NavigableString:
            yield string


def _find_date(scopes: Iterable[Tag]) -> tuple[datetime | None, Tag | None]:
    """The publication time and the element showing it (to be left out of the body)."""
    for scope in scopes:
        stamp = scope.find("time", attrs={"datetime": True})
        if isinstance(stamp, Tag):
            published = parse_api_time(str(stamp["datetime"]), "utc")
            if published is not None:
                return published, stamp
        for string in _strings(scope):
            published = parse_date_line(str(string))
            if published is not None:
                holder = string.parent
                if isinstance(holder, Tag) and parse_date_line(_text_of(holder)) is None:
                    holder = None
                return published, holder
    return None, None


def _encloses(outer: Tag, inner: Tag) -> bool:
    return outer is inner or any(parent is outer for parent in inner.parents)


def parse_detail_page(
    html: bytes | str, *, url: str, origin: str, charset: str | None = None
) -> Article | None:
    """The article on a ``/memleket/entities/{slug}/press/news/details/{id}`` page.

    ``None`` for the client-side-app shell (an empty ``<div id="root">``), a page without an
    ``<h1>`` or ``<article>``, or an article with neither title nor body. ``url`` (absolute,
    or a path under ``origin``) is the base for relative links and images.
    """
    text = decode_text(html, charset=charset, html=True)
    if "<" not in text:
        return None
    soup = _soup(text)
    # What a browser without scripts would not show, e.g. an <h1> inside <noscript>.
    for inert in soup.find_all(_INERT):
        if not inert.decomposed:
            inert.decompose()
    # The client-side app's shell (an empty <div id="root">) has neither, nor do listings.
    h1 = soup.find("h1")
    h1 = h1 if isinstance(h1, Tag) else None
    found = soup.find("article")
    container = _container(h1, found if isinstance(found, Tag) else None)
    if container is None:
        return None

    base = absolute_http_url(url, origin.rstrip("/") + "/") or origin.rstrip("/") + "/"
    base_tag = soup.find("base", href=True)
    if isinstance(base_tag, Tag):
        base = absolute_http_url(str(base_tag["href"]), base) or base

    title = _text_of(h1) if h1 is not None else _plain(_meta_content(soup, "og:title"))
    published, date_holder = _find_date((container, soup))
    for element in (h1, date_holder):
        # Never the container itself or one of its ancestors (a page that is all title).
        if element is not None and not _encloses(element, container):
            element.decompose()
    for junk in [*container.find_all(_NOT_ARTICLE), *container.find_all(class_=_NOT_ARTICLE_CLASS)]:
        if not junk.decomposed:
            junk.decompose()
    body = _clean_body(container.decode_contents(), base)
    og_image = _meta_content(soup, "og:image")
    lead = absolute_http_url(og_image, base) if og_image else None
    return _article(title, published, body, lead)
