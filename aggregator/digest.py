"""The seed digest grammar: text in, :class:`Item` records and :class:`Problem` records out.

Pure: no files, no database, no clock. :func:`parse_lines` is a streaming state machine, so
a digest of any size is parsed in bounded memory. The source marker (``Source : URL``),
not the blank line, ends an item; a title is a line ending in ``DD.MM.YYYY`` (or a line
followed by a date line). See ``../shared/govkz/README.md`` for what real digests look like.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from aggregator import lang as lang_rules
from aggregator.errors import Problem
from aggregator.model import Item
from aggregator.urls import BadSourceUrl, parse_source_url

ALMATY = ZoneInfo("Asia/Almaty")

# Characters XML 1.0 forbids (everything but tab/LF/CR below 0x20, surrogates, FFFE/FFFF).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_DATE_AT_END = re.compile(r"(?:^|(?<=\s))(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_DATE_LINE = re.compile(
    r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s+\d+)?)?$"
)
_MARKER = re.compile(r"(?:source|источник|ақпарат\s+көзі|дереккөз)\s*:\s*(\S+)\s*$", re.IGNORECASE)
# Longer than any marker plus URL: the regex never scans a whole long paragraph.
_MARKER_TAIL = 600
_URL_TRAILING = ".,;:!?)]}>»\"'”’"
_STRAY_TAG = re.compile(r"<\s*/?\s*(?:p|br)\s*/?\s*>", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")

_UPPER = 'A-ZА-ЯЁӘҒҚҢӨҰҮҺІ«“"'
# A sentence end glued to the next capitalised sentence: "basis.In addition".
_GLUE = re.compile(rf"([.!?;])(?=[{_UPPER}][^\W\d_]*[a-zа-яёәғқңөұүһі]|[«“\"])")
_ABBREVIATIONS = frozenset(
    (
        "e.g i.e etc vs mr mrs ms dr st no nos prof gen jr sr inc ltd co corp dept "
        "им г гг ул пр просп обл р руб тыс млн млрд т.е т.б т.с.с т.к см напр"
    ).split()
)

# Headings are short; longer stray lines between items are not treated as categories.
_MAX_HEADING = 80
_MAX_PENDING = 8


class UndecodableFile(ValueError):
    """Neither UTF-8 nor Windows-1251 text: the whole file is rejected."""


def _split_glued(paragraph: str) -> list[str]:
    """Restores paragraph breaks the digest lost, conservatively.

    Breaks only where a sentence end touches a capitalised word with no space between
    them, and not after an abbreviation (``e.g.``), an initial (``N.Sats``) or inside a
    number (``8.5``), which the character classes already exclude.
    """
    parts: list[str] = []
    start = 0
    for match in _GLUE.finditer(paragraph):
        end = match.end(1)
        before = paragraph[start : match.start(1)]
        word = before.rsplit(None, 1)[-1] if before.strip() else ""
        word = word.lstrip("(«“\"'")
        previous = before[-1:] if before else ""
        if not previous or not (previous.islower() or previous.isdigit() or previous in ')]»”"%'):
            continue
        last = word.rsplit(".", 1)[-1]
        if word.lower() in _ABBREVIATIONS or last.lower() in _ABBREVIATIONS or len(last) <= 1:
            continue
        parts.append(paragraph[start:end].strip())
        start = end
    parts.append(paragraph[start:].strip())
    return [part for part in parts if part]


def paragraphs(body_lines: Iterable[str]) -> str:
    """Plain text, one blank line between paragraphs."""
    found: list[str] = []
    glue = _GLUE.search
    for line in body_lines:
        for piece in _STRAY_TAG.split(line) if "<" in line else (line,):
            text = " ".join(piece.split())
            if not text:
                continue
            if glue(text) is None:
                found.append(text)
            else:
                found.extend(_split_glued(text))
    return "\n\n".join(found)


def clean_url(raw: str) -> str:
    url = raw.split("#", 1)[0]
    return url.rstrip(_URL_TRAILING)


@dataclass(slots=True)
class _Open:
    """The item being read: its title is known, its source is not yet."""

    title: str
    line: int
    date: tuple[int, int, int]
    category: str | None
    time: tuple[int, int, int] = (0, 0, 0)
    body: list[str] = field(default_factory=list)
    body_line: int = 0
    just_opened: bool = True


def _make_date(path: str, open_item: _Open) -> datetime | Problem:
    day, month, year = open_item.date
    hour, minute, second = open_item.time
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=ALMATY)
    except ValueError:
        shown = f"{day:02d}.{month:02d}.{year:04d}"
        if open_item.time != (0, 0, 0):
            shown += f" {hour:02d}:{minute:02d}:{second:02d}"
        return Problem(path, open_item.line, "bad-date", f"{shown!r} is not a date")


def _finish(path: str, open_item: _Open, raw_url: str, marker_line: int) -> Item | Problem:
    published = _make_date(path, open_item)
    if isinstance(published, Problem):
        return published
    try:
        ref = parse_source_url(clean_url(raw_url))
    except BadSourceUrl as error:
        return Problem(path, marker_line, error.code, str(error))
    title = _WHITESPACE.sub(" ", open_item.title).strip()
    text = paragraphs(open_item.body)
    language = lang_rules.detect(title + " " + text[: lang_rules.SAMPLE])
    return Item(
        agency=ref.agency,
        news_id=ref.news_id,
        lang=language,
        title=title,
        published=published,
        link=ref.link(language),
        text=text,
        category=open_item.category,
        source_file=path,
        source_line=open_item.line,
    )


def parse_lines(lines: Iterable[str], path: str) -> Iterator[Item | Problem]:
    """Items and problems in file order; never raises on any text.

    ``lines`` may keep their line endings; a BOM on the first line is ignored. Line
    numbers are 1-based and point at the title line of an item (the marker line for a
    bad URL).
    """
    category: str | None = None
    pending: list[tuple[int, str]] = []
    current: _Open | None = None
    number = 0

    def no_source(item: _Open) -> Problem:
        return Problem(path, item.line, "no-source", f"{item.title[:60]!r} has no source line")

    illegal = _XML_ILLEGAL.search
    for number, raw in enumerate(lines, start=1):
        line = (_XML_ILLEGAL.sub("", raw) if illegal(raw) else raw).strip()
        if number == 1:
            line = line.lstrip("\ufeff").strip()
        if not line:
            continue

        if current is not None and current.just_opened:
            current.just_opened = False
            date_line = _DATE_LINE.match(line)
            if date_line is not None:
                current.date = (int(date_line[1]), int(date_line[2]), int(date_line[3]))
                if date_line[4] is not None:
                    current.time = (int(date_line[4]), int(date_line[5]), int(date_line[6] or 0))
                continue

        if ":" in line:
            # The marker and its URL end the line: only the tail needs searching.
            marker = _MARKER.search(line, max(0, len(line) - _MARKER_TAIL))
            if marker is not None:
                before = line[: marker.start()].strip()
                if current is None:
                    start = pending[0][0] if pending else number
                    pending.clear()
                    yield Problem(path, start, "no-title", "a source line with no title before it")
                    continue
                if before:
                    current.body.append(before)
                yield _finish(path, current, marker[1], number)
                current = None
                continue

        date_line = _DATE_LINE.match(line) if line[0].isdigit() else None
        if date_line is not None:
            # A date alone: the line before it was the title.
            title_at: tuple[int, str] | None = None
            if current is None and pending:
                title_at = pending.pop()
            elif current is not None and current.body:
                title_at = (current.body_line, current.body.pop())
                yield no_source(current)
                current = None
            if title_at is not None:
                if pending:
                    category = _heading(pending, category)
                current = _Open(
                    title=title_at[1],
                    line=title_at[0],
                    date=(int(date_line[1]), int(date_line[2]), int(date_line[3])),
                    category=category,
                    just_opened=False,
                )
                if date_line[4] is not None:
                    current.time = (int(date_line[4]), int(date_line[5]), int(date_line[6] or 0))
                continue

        title_date = _DATE_AT_END.search(line) if line[-1].isdigit() else None
        if title_date is not None and title_date.start() > 0:
            if current is not None:
                yield no_source(current)
            if pending:
                category = _heading(pending, category)
            current = _Open(
                title=line[: title_date.start()].rstrip(),
                line=number,
                date=(int(title_date[1]), int(title_date[2]), int(title_date[3])),
                category=category,
            )
            continue

        if current is not None:
            current.body.append(line)
            current.body_line = number
        else:
            pending.append((number, line))
            if len(pending) > _MAX_PENDING:
                del pending[0]

    if current is not None:
        yield no_source(current)


def _heading(pending: list[tuple[int, str]], category: str | None) -> str | None:
    """The last short line before a title names the section (``Technology``)."""
    text = _WHITESPACE.sub(" ", pending[-1][1]).strip()
    pending.clear()
    if len(text) <= _MAX_HEADING and not text.endswith((".", "!", "?", ":")):
        return text
    return category


def parse(text: str, path: str) -> Iterator[Item | Problem]:
    """Parses a whole digest held in memory (tests, small inputs)."""
    # Universal newlines as a file read in text mode, not str.splitlines(), which would
    # also break lines at \x0b, \x1c or U+2028 and so shift every later line number.
    return parse_lines(io.StringIO(text, newline=None), path)


# --- decoding -------------------------------------------------------------------------

_CP1251_TEXT = re.compile(r"[\sA-Za-z0-9\u0400-\u04ff!-/:-@\[-`{-~«»—–№…“”„‘’•°\u00a0]")


def sniff_encoding(sample: bytes, *, complete: bool) -> str:
    """``utf-8-sig``, ``utf-16`` or ``cp1251`` for a file's bytes; raises :class:`UndecodableFile`.

    ``sample`` is the whole file when ``complete`` is true, else its beginning (a multibyte
    sequence cut at the end of the sample is not an error).
    """
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(sample, final=complete)
        if _looks_binary(text):
            raise UndecodableFile("binary data, not a text digest")
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        text = sample.decode("cp1251")
    except UnicodeDecodeError:
        raise UndecodableFile("neither UTF-8 nor Windows-1251 text") from None
    if not text:
        return "utf-8-sig"
    plausible = sum(1 for _ in _CP1251_TEXT.finditer(text))
    if plausible < len(text) * 0.97 or _looks_binary(text) or is_mojibake(text):
        raise UndecodableFile("neither UTF-8 nor Windows-1251 text")
    return "cp1251"


# UTF-8 Cyrillic read as Windows-1251 turns into "Р"/"С" followed by one of these.
_MOJIBAKE_TAIL = bytes(range(0x80, 0xC0)).decode("cp1251", "replace")
_MOJIBAKE = re.compile("[РС][" + re.escape(_MOJIBAKE_TAIL) + "]")


def is_mojibake(text: str) -> bool:
    """Text that was UTF-8 Cyrillic decoded as Windows-1251 (``Р°Р»`` for ``ал``)."""
    pairs = sum(1 for _ in _MOJIBAKE.finditer(text))
    cyrillic = sum(1 for char in text if "\u0400" <= char <= "\u04ff")
    return pairs >= 3 and pairs * 100 >= cyrillic


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    controls = sum(1 for _ in _XML_ILLEGAL.finditer(text))
    return controls > max(8, len(text) // 100)


def decode(data: bytes) -> str:
    """The text of a whole digest held in memory; raises :class:`UndecodableFile`."""
    encoding = sniff_encoding(data, complete=True)
    return data.decode(encoding)


def format_item(item: Item) -> str:
    """The digest text of one item, which :func:`parse` reads back as the same item.

    Used to write digests (benchmarks, tests, exports for republishing sites).
    """
    published = item.published.astimezone(ALMATY)
    lines = [f"{item.title} {published:%d.%m.%Y}"]
    if (published.hour, published.minute, published.second) != (0, 0, 0):
        lines.append(f"{published:%d.%m.%Y %H:%M:%S} 0")
    lines.extend(item.text.split("\n\n") if item.text else [])
    lines.append(f"Source : {item.link}")
    return "\n".join(lines) + "\n\n"
