"""A polite HTTP client for one origin (gov.kz, or the fake): the only module importing requests.

Politeness and safety are properties of :class:`Fetcher`, not duties of its callers:

- only the configured origin is contacted; redirects are followed by hand (at most
  ``max_redirects``) and refused when they leave the origin; a host name that resolves to a
  private, loopback or link-local address is refused (an IP-literal origin is trusted as
  configured, which is how tests reach 127.0.0.1);
- request starts are spaced by ``1 / requests_per_second``, across threads;
- ``robots.txt`` is fetched once per ``robots_ttl`` and honoured (404 and other 4xx: allow
  all; 5xx, 429 or unreachable: disallow everything for a minute, the error being reported
  as ``robots-unavailable``, or as ``connection``/``timeout`` when the origin is down);
- a descriptive User-Agent with a contact URL, no cookies, no retries, connect and read
  timeouts, an overall deadline, and downloads cut at ``max_bytes``.

Every HTTP answer comes back as a :class:`Response` (404, 429 and 503 included: the caller
decides, using :attr:`Response.retry_after` to back off). Failures without a usable answer
raise :class:`~aggregator.errors.FetchError` whose ``reason`` is one of :data:`REASONS`.
"""

from __future__ import annotations

import http.cookiejar
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from types import MappingProxyType, TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
import requests.adapters
from urllib3.exceptions import ReadTimeoutError

from aggregator import __version__
from aggregator.errors import FetchError
from aggregator.settings import Settings

logger = logging.getLogger(__name__)

#: The stable ``FetchError.reason`` codes.
REASONS = (
    "off-origin",  # the caller asked for a URL outside the origin
    "address-refused",  # the origin's host name resolves to a non-public address
    "robots",  # robots.txt disallows the URL
    "robots-unavailable",  # robots.txt answered 5xx/429, was too large or redirected away
    "redirect-refused",  # a redirect pointed outside the origin
    "too-many-redirects",
    "timeout",  # connect, read, or the overall deadline
    "connection",  # refused, reset, DNS failure, broken chunking
    "too-large",  # the body exceeded max_bytes
)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ROBOTS_ERROR_TTL = 60.0
_CHUNK = 16 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


def build_user_agent(contact_url: str) -> str:
    """``govkz-feeds/<version> (+<contact_url>)``."""
    return f"govkz-feeds/{__version__} (+{contact_url})"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def resolve_addresses(host: str) -> Sequence[str]:
    """Every address ``host`` resolves to (the default resolver of :class:`Fetcher`)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP answer. ``headers`` has lower-case names; ``url`` is the final URL after
    same-origin redirects; ``retry_after`` is in seconds when the server sent one."""

    url: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        message = Message()
        message["content-type"] = self.headers.get("content-type", "")
        charset = message.get_param("charset")
        return charset.strip() if isinstance(charset, str) and charset.strip() else None


@dataclass(frozen=True, slots=True)
class _Robots:
    parser: RobotFileParser | None  # None: unreachable, disallow everything for now
    status: int | None
    expires: float
    reason: str = "robots-unavailable"


def _origin_parts(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Fetcher:
    """GETs from one origin, politely; see the module docstring. Thread-safe."""

    def __init__(
        self,
        origin: str,
        *,
        user_agent: str,
        requests_per_second: float = 1.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        total_timeout: float = 60.0,
        max_bytes: int = 5 * 1024 * 1024,
        max_redirects: int = 5,
        robots_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        resolve: Callable[[str], Sequence[str]] = resolve_addresses,
    ) -> None:
        parts = _origin_parts(origin)
        if parts is None:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self._origin_key = parts
        scheme, host, port = parts
        default_port = port == _DEFAULT_PORTS[scheme]
        self.origin = f"{scheme}://{host}" + ("" if default_port else f":{port}")
        self.user_agent = user_agent
        self._interval = 1.0 / requests_per_second
        self._timeout = (connect_timeout, read_timeout)
        self._total_timeout = total_timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._robots_ttl = robots_ttl
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._resolve = resolve
        # An IP literal (or localhost) was chosen by whoever configured the origin.
        self._trusted_host = _is_ip_literal(host) or host == "localhost"
        self._turn_lock = threading.Lock()
        self._next_start = float("-inf")
        self._robots_lock = threading.Lock()
        self._robots: _Robots | None = None
        self._session = self._new_session()

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Fetcher:
        options: dict[str, Any] = {
            "user_agent": build_user_agent(settings.contact_url),
            "requests_per_second": settings.fetch_requests_per_second,
            **overrides,
        }
        return cls(settings.source_origin, **options)

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc credentials from the environment
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = requests.adapters.HTTPAdapter(max_retries=0)  # we back off ourselves
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # public

    def url_for(self, path_or_url: str) -> str:
        """The absolute URL of a path under the origin; FetchError for any other origin."""
        url = urljoin(self.origin + "/", path_or_url)
        if _origin_parts(url) != self._origin_key:
            raise FetchError(path_or_url, None, "off-origin")
        return url

    def get(
        self,
        path_or_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Response:
        """GET a path (or absolute URL) of the origin; conditional when ``etag`` or
        ``last_modified`` is given (a ``304`` comes back as such, with an empty body).

        ``headers`` may add e.g. ``Accept-Language``; the User-Agent is always ours. Waits
        for its turn under the rate limit (and for robots.txt the first time), never for a
        ``Retry-After``.
        """
        url = self.url_for(path_or_url)
        request_headers = {
            "Accept": "text/html,application/json;q=0.9,*/*;q=0.8",
            **(headers or {}),
            "User-Agent": self.user_agent,
        }
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        return self._follow(url, request_headers, check_robots=True)

    # redirects, robots, addresses

    def _follow(self, url: str, headers: Mapping[str, str], *, check_robots: bool) -> Response:
        requested = url
        for _hop in range(self._max_redirects + 1):
            self._check_address(requested)
            if check_robots:
                self._check_robots(url, requested)
            response = self._send(url, headers)
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            target = urljoin(url, location.strip())
            if _origin_parts(target) != self._origin_key:
                logger.info("redirect refused url=%s location=%s", url, target)
                raise FetchError(requested, response.status, "redirect-refused")
            url = target
        raise FetchError(requested, None, "too-many-redirects")

    def _check_address(self, url: str) -> None:
        if self._trusted_host:
            return
        host = self._origin_key[1]
        try:
            addresses = self._resolve(host)
        except OSError:
            raise FetchError(url, None, "connection") from None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global:
                logger.warning("address refused host=%s address=%s", host, address)
                raise FetchError(url, None, "address-refused")

    def _check_robots(self, url: str, requested: str) -> None:
        robots = self._current_robots()
        if robots.parser is None:
            raise FetchError(requested, robots.status, robots.reason)
        if not robots.parser.can_fetch(self.user_agent, url):
            logger.info("robots disallow url=%s", url)
            raise FetchError(requested, None, "robots")

    def _current_robots(self) -> _Robots:
        with self._robots_lock:
            if self._robots is None or self._clock() >= self._robots.expires:
                self._robots = self._load_robots()
            return self._robots

    def _load_robots(self) -> _Robots:
        url = self.origin + "/robots.txt"
        headers = {"User-Agent": self.user_agent, "Accept": "text/plain,*/*;q=0.1"}
        try:
            response = self._follow(url, headers, check_robots=False)
        except FetchError as exc:
            # An unreachable origin is reported as such; other failures as robots trouble.
            unreachable = exc.reason in ("connection", "timeout", "address-refused")
            reason = exc.reason if unreachable else "robots-unavailable"
            logger.warning("robots unavailable url=%s reason=%s", url, exc.reason)
            return _Robots(None, exc.status, self._clock() + _ROBOTS_ERROR_TTL, reason)
        expires = self._clock() + self._robots_ttl
        parser = RobotFileParser(url)
        if response.status >= 500 or response.status == 429:
            logger.warning("robots unavailable url=%s status=%d", url, response.status)
            return _Robots(None, response.status, self._clock() + _ROBOTS_ERROR_TTL)
        # RFC 9309: a 4xx robots.txt (404 included) means there are no rules.
        text = response.body.decode("utf-8", errors="replace") if response.ok else ""
        parser.parse(text.splitlines())
        logger.info("robots loaded url=%s status=%d", url, response.status)
        return _Robots(parser, response.status, expires)

    # the wire

    def _wait_turn(self) -> None:
        """Reserve the next start slot (under the lock) and sleep until it (outside it)."""
        with self._turn_lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            self._sleep(start - now)

    def _send(self, url: str, headers: Mapping[str, str]) -> Response:
        self._wait_turn()
        started = self._clock()
        try:
            with self._session.get(
                url,
                headers=dict(headers),
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
            ) as raw:
                status = raw.status_code
                received = {name.lower(): value for name, value in raw.headers.items()}
                body = b"" if status in REDIRECT_STATUSES else self._read_body(raw, url, started)
        except requests.exceptions.Timeout:
            raise FetchError(url, None, "timeout") from None
        except requests.exceptions.ConnectionError as exc:
            timed_out = any(isinstance(arg, ReadTimeoutError) for arg in exc.args)
            raise FetchError(url, None, "timeout" if timed_out else "connection") from None
        except requests.exceptions.RequestException as exc:
            logger.info("fetch failed url=%s error=%s", url, type(exc).__name__)
            raise FetchError(url, None, "connection") from None
        retry_after = parse_retry_after(received.get("retry-after"), self._server_now(received))
        logger.debug(
            "fetched url=%s status=%d bytes=%d ms=%d",
            url,
            status,
            len(body),
            (self._clock() - started) * 1000,
        )
        return Response(url, status, MappingProxyType(received), body, retry_after)

    def _read_body(self, raw: requests.Response, url: str, started: float) -> bytes:
        declared = raw.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise FetchError(url, raw.status_code, "too-large")
        chunks: list[bytes] = []
        size = 0
        for chunk in raw.iter_content(_CHUNK):
            size += len(chunk)
            if size > self._max_bytes:
                raise FetchError(url, raw.status_code, "too-large")
            if self._clock() - started > self._total_timeout:
                raise FetchError(url, raw.status_code, "timeout")
            chunks.append(chunk)
        return b"".join(chunks)

    def _server_now(self, headers: Mapping[str, str]) -> datetime:
        """The server's clock when it says (so an HTTP-date Retry-After is not skewed)."""
        try:
            when = parsedate_to_datetime(headers.get("date", ""))
        except (TypeError, ValueError, IndexError):
            return self._now()
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
