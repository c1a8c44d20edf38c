"""What one app instance shares between its threads: settings, store, cache and metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aggregator.settings import Settings
from aggregator.store import Store
from aggregator.web import protocol
from aggregator.web.cache import CacheKey, Ready, ResponseCache, VersionWatcher
from aggregator.web.metrics import WebMetrics
from aggregator.web.refresh_api import RefreshService

#: WSGI environ keys the layers pass along: the metrics label of the answering route.
ROUTE_KEY = "aggregator.route"


@dataclass(eq=False)
class WebState:
    settings: Settings
    store: Store
    cache: ResponseCache = field(default_factory=ResponseCache)
    #: ``POST /refresh``'s background runner (see :mod:`aggregator.web.refresh_api`).
    refresh: RefreshService | None = None
    watcher: VersionWatcher = field(init=False)
    metrics: WebMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.watcher = VersionWatcher(self.store.data_version, self.cache)
        self.metrics = WebMetrics(self.store, self.cache)

    def base_url(self, environ: Mapping[str, object]) -> str:
        """AGGREGATOR_BASE_URL when set, else the request's own (after ProxyFix, if trusted)."""
        return self.settings.base_url or protocol.request_base_url(environ)

    def cache_key(self, environ: Mapping[str, object]) -> CacheKey:
        """(base URL, path, known query parameters, negotiated embed language).

        Raises :class:`protocol.ParamError` or :class:`protocol.BadHost` for a request that
        can only be a 400.
        """
        query = protocol.query_key(str(environ.get("QUERY_STRING") or ""))
        if query is None:
            raise protocol.ParamError("the query string must be UTF-8 with few parameters")
        base = self.base_url(environ)
        path = str(environ.get("PATH_INFO") or "/")
        variant: str | None = None
        if path.startswith("/embed/") and path.count("/") == 2:
            variant = protocol.ui_language(str(environ.get("HTTP_ACCEPT_LANGUAGE") or ""))
        return (base, path, query, variant)

    def lookup(self, key: CacheKey) -> Ready | None:
        """The cached answer for the current data version (checked at most once a second)."""
        self.watcher.current()
        return self.cache.get(key)

    def produce(self, key: CacheKey, render: Callable[[], Ready]) -> Ready:
        """The cached answer, else ``render()`` once (concurrent misses wait) and cache it."""
        ready = self.lookup(key)
        if ready is None:
            with self.cache.flight(key):
                ready = self.cache.get(key)
                if ready is None:
                    version = self.watcher.current()
                    ready = render()
                    self.metrics.cache_misses.inc()
                    self.cache.put(key, ready, version)
                    return ready
        self.metrics.cache_hits.inc()
        return ready

    def known_agencies(self) -> frozenset[str]:
        """Agencies with items in the store, read once per data version."""
        memo = self.cache.memo  # a reset meanwhile replaces the dict: no stale memo survives
        known = memo.get("agencies")
        if not isinstance(known, frozenset):
            known = frozenset(self.store.agency_counts())
            memo["agencies"] = known
        return known
