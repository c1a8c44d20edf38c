"""Prometheus metrics of one app, in its own registry (never the process-global one).

Counters are per process: under several workers each scrape reaches one of them. The store
figures (items, last refresh) are read when scraped, and left out when the database is away.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aggregator.errors import StoreError
from aggregator.store import Store
from aggregator.web.cache import ResponseCache

CONTENT_TYPE = CONTENT_TYPE_LATEST


class _StoreCollector(Collector):
    """Gauges read at scrape time: the store's figures and the render cache's size."""

    def __init__(self, store: Store, cache: ResponseCache) -> None:
        self.store = store
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        entries = GaugeMetricFamily(
            "govkz_render_cache_entries", "Rendered responses held in memory by this process."
        )
        entries.add_metric([], len(self.cache))
        yield entries
        size = GaugeMetricFamily(
            "govkz_render_cache_bytes", "Bytes of rendered responses (with their gzip forms)."
        )
        size.add_metric([], self.cache.bytes)
        yield size
        up = GaugeMetricFamily("govkz_database_up", "1 when the store answered this scrape.")
        try:
            items = self.store.count_items()
            version = self.store.data_version()
            last = self.store.last_run(kind="refresh")
            enrichment = self.store.enrichment_counts()
        except StoreError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        stored = GaugeMetricFamily("govkz_items_stored", "Items in the store.")
        stored.add_metric([], items)
        yield stored
        data_version = GaugeMetricFamily("govkz_data_version", "The store's data version.")
        data_version.add_metric([], version)
        yield data_version
        outcomes = GaugeMetricFamily(
            "govkz_enrichment_items",
            "Items by the outcome of their last source-page fetch.",
            labels=["outcome"],
        )
        for outcome, count in sorted(enrichment.items()):
            outcomes.add_metric([outcome], count)
        yield outcomes
        if last is not None and last.finished is not None:
            finished = GaugeMetricFamily(
                "govkz_last_refresh_timestamp_seconds",
                "When the last refresh run finished (Unix time).",
            )
            finished.add_metric([], last.finished.timestamp())
            yield finished
            duration = GaugeMetricFamily(
                "govkz_last_refresh_duration_seconds", "How long the last refresh run took."
            )
            duration.add_metric([], (last.duration_ms or 0) / 1000)
            yield duration
            ok = GaugeMetricFamily(
                "govkz_last_refresh_success", "1 when the last refresh run succeeded."
            )
            ok.add_metric([], 1 if last.outcome in ("ok", "rejected") else 0)
            yield ok


class WebMetrics:
    def __init__(self, store: Store, cache: ResponseCache) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "govkz_http_requests",
            "HTTP requests answered, by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "govkz_render_cache_hits",
            "Requests answered from a rendered response in memory.",
            registry=self.registry,
        )
        self.cache_misses = Counter(
            "govkz_render_cache_misses",
            "Responses that had to be rendered (not in memory for the current data version).",
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(store, cache))
        self._children: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()

    def request(self, route: str, status: int) -> None:
        child = self._children.get((route, status))
        if child is None:
            with self._lock:
                child = self._requests.labels(route, str(status))
                self._children[(route, status)] = child
        child.inc()

    def exposition(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data

    def counter_value(self, name: str) -> float:
        """The current value of a counter sample, e.g. ``govkz_render_cache_misses_total``."""
        value = self.registry.get_sample_value(name)
        return value if value is not None else 0.0
