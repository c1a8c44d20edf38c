"""The HTTP rules of the web app as pure functions over strings: no Flask, no I/O, no clock.

Query parameters and their validation, content negotiation (``Accept-Encoding``,
``Accept-Language``), conditional requests (RFC 9110 section 13), the base URL of a request
and the access-log line. Both the hot path and the Flask views use these, so a cached answer
and a freshly rendered one are decided by the same code.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal
from urllib.parse import parse_qsl, quote, urlencode

from aggregator.model import LANGS, Lang

#: The same shape as the agency segment of a gov.kz URL (see ``aggregator.urls``).
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")

MAX_LIMIT = 500
MAX_QUERY_LENGTH = 200
MAX_SKIP = 100_000
MAX_EMBED_ITEMS = 50
DEFAULT_EMBED_ITEMS = 10
MAX_QUERY_FIELDS = 64

#: The parameters that change an answer; every other one is ignored (and not in cache keys).
KNOWN_PARAMS = frozenset({"limit", "q", "before", "skip", "n", "theme"})

Theme = Literal["light", "dark"]

_DIGITS = re.compile(r"[0-9]{1,7}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
# A Host header: a DNS name, an IPv4 address or a bracketed IPv6 address, and a port.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?\Z"
)
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*\Z")
_ENTITY_TAG = re.compile(r'\s*(?:W/)?("[^"]*")\s*(?:,|\Z)')
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._~-]*\Z")
_TOKEN_PARAM = re.compile(r"(?i)(^|[&;])(token=)[^&;]*")


class ParamError(ValueError):
    """A bad query parameter; the message is the one-line reason sent with the 400."""


# --------------------------------------------------------------------------- query


@lru_cache(maxsize=2048)
def query_key(query_string: str) -> tuple[tuple[str, str], ...] | None:
    """The known parameters of a raw query string, first occurrence each, sorted by name.

    The cache key and the views' input: ``?utm_source=x&limit=5`` and ``?limit=5`` are the
    same request. None when the query string cannot be read (not UTF-8, too many fields).
    """
    if not query_string:
        return ()
    try:
        raw = query_string.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:
        raw = query_string  # a server that already decoded it as text
    except UnicodeDecodeError:
        return None
    try:
        pairs = parse_qsl(
            raw,
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_QUERY_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        return None
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in KNOWN_PARAMS and name not in found:
            found[name] = value
    return tuple(sorted(found.items()))


@dataclass(frozen=True, slots=True)
class FeedParams:
    limit: int
    q: str | None = None
    before: datetime | None = None
    skip: int | None = None
    limit_given: bool = False

    def page_params(self) -> list[tuple[str, str]]:
        """The parameters that select this page, in the order written into URLs."""
        found: list[tuple[str, str]] = []
        if self.limit_given:
            found.append(("limit", str(self.limit)))
        if self.q is not None:
            found.append(("q", self.q))
        if self.before is not None:
            found.append(("before", self.before.isoformat()))
        if self.skip is not None:
            found.append(("skip", str(self.skip)))
        return found


@dataclass(frozen=True, slots=True)
class EmbedParams:
    n: int = DEFAULT_EMBED_ITEMS
    theme: Theme = "light"


def _bounded_int(name: str, raw: str, low: int, high: int) -> int:
    if not _DIGITS.match(raw) or not low <= int(raw) <= high:
        raise ParamError(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def parse_rfc3339(raw: str) -> datetime:
    """An RFC 3339 date-time with its offset; a ``+`` turned into a space is forgiven."""
    text = raw.strip()
    if len(text) > 40:
        raise ParamError("before must be an RFC 3339 date-time such as 2025-02-14T00:00:00+05:00")
    # "+05:00" in a query string written without percent-encoding arrives as " 05:00".
    text = re.sub(r" (\d\d:\d\d)\Z", r"+\1", text)
    try:
        moment = datetime.fromisoformat(text)
        moment.timestamp()
    except (ValueError, OverflowError):
        raise ParamError(
            "before must be an RFC 3339 date-time such as 2025-02-14T00:00:00+05:00"
        ) from None
    if len(text) < 19 or text[10] not in "Tt " or moment.utcoffset() is None:
        raise ParamError("before must be an RFC 3339 date-time with a time and an offset")
    return moment


def feed_params(query: Iterable[tuple[str, str]], default_limit: int) -> FeedParams:
    """``limit`` (1-500), ``q`` (at most 200 characters), ``before`` and ``skip`` paging."""
    values = dict(query)
    limit_given = "limit" in values
    limit = _bounded_int("limit", values["limit"], 1, MAX_LIMIT) if limit_given else default_limit
    q = values.get("q", "").strip() or None
    if q is not None:
        if len(q) > MAX_QUERY_LENGTH:
            raise ParamError(f"q must be at most {MAX_QUERY_LENGTH} characters")
        if _CONTROL.search(q):
            raise ParamError("q must not contain control characters")
    before = parse_rfc3339(values["before"]) if "before" in values else None
    skip = None
    if "skip" in values:
        if before is None:
            raise ParamError("skip needs before")
        skip = _bounded_int("skip", values["skip"], 0, MAX_SKIP)
    return FeedParams(limit=limit, q=q, before=before, skip=skip, limit_given=limit_given)


def embed_params(query: Iterable[tuple[str, str]]) -> EmbedParams:
    """``n`` (1-50 items) and ``theme`` (light or dark)."""
    values = dict(query)
    n = _bounded_int("n", values["n"], 1, MAX_EMBED_ITEMS) if "n" in values else None
    theme = values.get("theme", "light")
    if theme not in ("light", "dark"):
        raise ParamError("theme must be light or dark")
    return EmbedParams(n=n or DEFAULT_EMBED_ITEMS, theme="dark" if theme == "dark" else "light")


def with_query(url: str, params: Iterable[tuple[str, str]]) -> str:
    encoded = urlencode(list(params), quote_via=quote, safe=":")
    return f"{url}?{encoded}" if encoded else url


# --------------------------------------------------------------------------- negotiation


def _weighted(header: str) -> Iterable[tuple[str, float]]:
    for part in header.split(","):
        name, _, params = part.partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        yield name.strip().lower(), weight


@lru_cache(maxsize=512)
def accepts_gzip(header: str) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (listed, or ``*``, with a q above zero)."""
    if not header:
        return False
    weights = dict(_weighted(header))
    for name in ("gzip", "x-gzip"):
        if name in weights:
            return weights[name] > 0
    return weights.get("*", 0.0) > 0


@lru_cache(maxsize=512)
def ui_language(header: str) -> Lang:
    """The reader's language among kk, ru and en from ``Accept-Language``; else en."""
    best: tuple[float, int, Lang] | None = None
    for position, (name, weight) in enumerate(_weighted(header or "")):
        primary = name.split("-")[0]
        if weight <= 0 or primary not in LANGS:
            continue
        lang: Lang = "kk" if primary == "kk" else "ru" if primary == "ru" else "en"
        candidate = (weight, -position, lang)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best is not None else "en"


# --------------------------------------------------------------------------- conditional


def _entity_tags(header: str) -> list[str] | None:
    """The opaque tags of an ``If-None-Match`` list, ``W/`` dropped; None when unreadable."""
    tags: list[str] = []
    position = 0
    text = header.strip()
    while position < len(text):
        match = _ENTITY_TAG.match(text, position)
        if match is None:
            return None
        tags.append(match.group(1))
        position = match.end()
    return tags


def http_date(seconds: int) -> str:
    return email.utils.formatdate(seconds, usegmt=True)


def parse_http_date(value: str) -> int | None:
    try:
        parsed = email.utils.parsedate_tz(value)
        return email.utils.mktime_tz(parsed) if parsed is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def not_modified(
    etag: str, last_modified: int, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """RFC 9110 13.2.2 for GET and HEAD: If-None-Match (weak comparison, ``*``) when present,
    else If-Modified-Since. ``etag`` includes its quotes."""
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        tags = _entity_tags(if_none_match)
        return tags is not None and etag.removeprefix("W/") in tags
    if if_modified_since is not None:
        since = parse_http_date(if_modified_since)
        return since is not None and last_modified <= since
    return False


# --------------------------------------------------------------------------- base URL


class BadHost(ValueError):
    pass


def request_base_url(environ: Mapping[str, object]) -> str:
    """``scheme://host/prefix/`` of a WSGI request; :class:`BadHost` for a forged Host."""
    host = str(environ.get("HTTP_HOST") or "")
    if not host:
        host = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    return _base_url(
        str(environ.get("wsgi.url_scheme", "http")), host, str(environ.get("SCRIPT_NAME") or "")
    )


@lru_cache(maxsize=256)
def _base_url(scheme: str, host: str, prefix: str) -> str:
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise BadHost(f"unsupported scheme {scheme!r}")
    if not _HOST.match(host):
        raise BadHost("bad Host header")
    prefix = prefix.rstrip("/")
    if not _PREFIX.match(prefix):
        raise BadHost("bad path prefix")
    return f"{scheme}://{host.lower()}{prefix}/"


# --------------------------------------------------------------------------- access log


def _log_safe(text: str) -> str:
    """Quotes and control characters escaped as Apache does, so a line stays one line."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", escaped)


def redact_query(query_string: str) -> str:
    """``token=...`` values replaced: secrets never reach the log."""
    return _TOKEN_PARAM.sub(r"\1\2[redacted]", query_string)


def request_line(environ: Mapping[str, object]) -> str:
    path = str(environ.get("SCRIPT_NAME") or "") + str(environ.get("PATH_INFO") or "")
    target = path if _PLAIN_PATH.match(path) else quote(path.encode("latin-1", "replace"), safe="/")
    query = str(environ.get("QUERY_STRING") or "")
    if query:
        target += "?" + redact_query(query)
    method = str(environ.get("REQUEST_METHOD", "-"))
    protocol = str(environ.get("SERVER_PROTOCOL", "HTTP/1.1"))
    return _log_safe(f"{method} {target} {protocol}")


def combined_log_line(
    environ: Mapping[str, object], status: int, size: int | None, timestamp: str
) -> str:
    """Apache's combined format; the user field is always ``-`` (credentials never logged)."""
    remote = _log_safe(str(environ.get("REMOTE_ADDR") or "-"))
    referer = _log_safe(str(environ.get("HTTP_REFERER") or "-"))
    agent = _log_safe(str(environ.get("HTTP_USER_AGENT") or "-"))
    return (
        f'{remote} - - [{timestamp}] "{request_line(environ)}" {status} '
        f'{size if size else "-"} "{referer}" "{agent}"'
    )
