"""Ready-made responses kept in memory, valid for one data version of the store.

A :class:`Ready` is everything needed to answer a GET or HEAD without rendering: status
line, headers, the body and its gzip form (compressed once, when the entry is made), the
strong ETags of both and Last-Modified. :class:`ResponseCache` holds them, bounded by count
and bytes (least recently used out first), and forgets them all when
:class:`VersionWatcher` sees the store's data version move. Thread-safe; no Flask here.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from aggregator.errors import StoreError
from aggregator.web import protocol

#: Entries and bytes (bodies plus gzip bodies) the cache holds at most, per process.
MAX_ENTRIES = 2048
MAX_BYTES = 64 << 20
#: Seconds between two checks of the store's data version.
VERSION_CHECK_INTERVAL = 1.0

Headers = list[tuple[str, str]]
CacheKey = Hashable


@dataclass(frozen=True, slots=True)
class Ready:
    """One rendered document as the hot path serves it; ``route`` labels the metrics."""

    route: str
    headers: Headers
    body: bytes
    gzip_body: bytes
    etag: str
    gzip_etag: str
    last_modified: int
    #: ``max-age`` and the other headers a 304 repeats (RFC 9110 15.4.5).
    not_modified_headers: Headers
    gzip_headers: Headers
    gzip_not_modified_headers: Headers

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzip_body)

    def choose(
        self, gzip_ok: bool, if_none_match: str | None, if_modified_since: str | None
    ) -> tuple[str, Headers, bytes]:
        """The status line, headers and body for one request (GET; HEAD drops the body)."""
        etag = self.gzip_etag if gzip_ok else self.etag
        if protocol.not_modified(etag, self.last_modified, if_none_match, if_modified_since):
            headers = self.gzip_not_modified_headers if gzip_ok else self.not_modified_headers
            return "304 Not Modified", headers, b""
        if gzip_ok:
            return "200 OK", self.gzip_headers, self.gzip_body
        return "200 OK", self.headers, self.body


def make_ready(
    route: str,
    body: bytes,
    *,
    content_type: str,
    last_modified: int,
    max_age: int,
    extra: Sequence[tuple[str, str]] = (),
    vary: str = "Accept-Encoding",
) -> Ready:
    """Builds both encodings' headers once. ETags are content hashes, so every worker (and
    every restart) gives the same tag for the same bytes."""
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    etag = f'"{digest}"'
    gzip_etag = f'"{digest}-gz"'
    gzip_body = gzip.compress(body, compresslevel=6, mtime=0)
    common: Headers = [
        ("Cache-Control", f"public, max-age={max_age}"),
        ("Vary", vary),
        *extra,
    ]
    modified = ("Last-Modified", protocol.http_date(last_modified))
    return Ready(
        route=route,
        headers=[
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("ETag", etag),
            modified,
            *common,
        ],
        body=body,
        gzip_body=gzip_body,
        etag=etag,
        gzip_etag=gzip_etag,
        last_modified=last_modified,
        not_modified_headers=[("ETag", etag), *common],
        gzip_headers=[
            ("Content-Type", content_type),
            ("Content-Encoding", "gzip"),
            ("Content-Length", str(len(gzip_body))),
            ("ETag", gzip_etag),
            modified,
            *common,
        ],
        gzip_not_modified_headers=[("ETag", gzip_etag), *common],
    )


class ResponseCache:
    """LRU of :class:`Ready` entries for the current data version.

    ``get`` is lock-free (a dict lookup); ``put`` refuses an entry rendered for another
    version than the current one, so a render racing a refresh cannot pin stale bytes.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.version: int | None = None
        self.bytes = 0
        self._entries: OrderedDict[CacheKey, Ready] = OrderedDict()
        self._lock = threading.Lock()
        self._flights: dict[CacheKey, threading.Lock] = {}
        #: Small per-version facts the views reuse (the known agencies), cleared with entries.
        self.memo: dict[str, object] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> Ready | None:
        ready = self._entries.get(key)
        if ready is not None:
            # Evicted by another thread meanwhile: the entry is still good for this answer.
            with suppress(KeyError):
                self._entries.move_to_end(key)
        return ready

    def put(self, key: CacheKey, ready: Ready, version: int | None) -> bool:
        """Stores the entry if ``version`` is still current and it fits; True when stored."""
        if ready.size > self.max_bytes:
            return False
        with self._lock:
            if version is None or version != self.version:
                return False
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old.size
            self._entries[key] = ready
            self.bytes += ready.size
            while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= evicted.size
            return True

    def reset(self, version: int) -> None:
        """A new data version: every entry and memo is out of date."""
        with self._lock:
            self.version = version
            self._entries = OrderedDict()
            self.memo = {}
            self.bytes = 0

    @contextmanager
    def flight(self, key: CacheKey) -> Iterator[None]:
        """One render per key at a time: concurrent misses of a key wait for the first."""
        with self._lock:
            lock = self._flights.setdefault(key, threading.Lock())
        with lock:
            try:
                yield
            finally:
                with self._lock:
                    if self._flights.get(key) is lock:
                        del self._flights[key]


class VersionWatcher:
    """Reads the store's data version at most once per ``interval`` and resets the cache
    when it moves. A failed read keeps the last version (and the cache): the last good
    feeds stay served while the database is away."""

    def __init__(
        self,
        read_version: Callable[[], int],
        cache: ResponseCache,
        *,
        interval: float = VERSION_CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read_version = read_version
        self.cache = cache
        self.interval = interval
        self.clock = clock
        self.reachable: bool | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> int | None:
        """The data version, checked when the last check is older than ``interval``; one
        thread checks while the others go on with the version they know (or, before any
        version is known, wait for that check)."""
        if self.clock() - self._checked < self.interval:
            return self.cache.version
        if not self._lock.acquire(blocking=self.cache.version is None):
            return self.cache.version
        try:
            if self.clock() - self._checked >= self.interval:
                self._check()
        finally:
            self._lock.release()
        return self.cache.version

    def _check(self) -> None:
        try:
            version = self.read_version()
        except StoreError:
            self.reachable = False
            return
        finally:
            self._checked = self.clock()
        self.reachable = True
        if version != self.cache.version:
            self.cache.reset(version)
