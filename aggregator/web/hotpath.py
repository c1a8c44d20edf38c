"""Two thin WSGI layers in front of the Flask app.

:class:`HotPath` answers GET and HEAD from the render cache (200 or 304, identity or gzip)
with a dict lookup, before Flask builds a request, matches a route or runs a view: measured
here, that is several times faster than the same bytes through a view. Everything else
(misses, other methods, bad input) goes on to Flask.

:class:`RequestLog` sits outside it and sees every answer, hot or not: one line in Apache's
combined log format and the request counter of the metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from aggregator.web import protocol
from aggregator.web.metrics import WebMetrics
from aggregator.web.state import ROUTE_KEY, WebState

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class HotPath:
    def __init__(self, app: WSGIApp, state: WebState) -> None:
        self.app = app
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method == "GET" or method == "HEAD":
            try:
                key = self.state.cache_key(environ)
            except (protocol.ParamError, protocol.BadHost):
                return self.app(environ, start_response)
            ready = self.state.lookup(key)
            if ready is not None:
                self.state.metrics.cache_hits.inc()
                environ[ROUTE_KEY] = ready.route
                status, headers, body = ready.choose(
                    protocol.accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING") or ""),
                    environ.get("HTTP_IF_NONE_MATCH"),
                    environ.get("HTTP_IF_MODIFIED_SINCE"),
                )
                start_response(status, list(headers))
                return [body] if method == "GET" and body else []
        return self.app(environ, start_response)


class RequestLog:
    """Access log (stdout, combined format) and request metrics for every response."""

    def __init__(self, app: WSGIApp, metrics: WebMetrics, logger: logging.Logger) -> None:
        self.app = app
        self.metrics = metrics
        self.logger = logger
        self._second = -1
        self._stamp = ""

    def _timestamp(self) -> str:
        now = int(time.time())
        if now != self._second:
            t = time.gmtime(now)
            self._stamp = (
                f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
            )
            self._second = now
        return self._stamp

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        seen: list[tuple[str, list[tuple[str, str]]]] = []

        def observe(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Any:
            seen.append((status, headers))
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        body = self.app(environ, observe)
        status_line, headers = seen[-1] if seen else ("500 Internal Server Error", [])
        status = int(status_line[:3])
        self.metrics.request(str(environ.get(ROUTE_KEY) or "unmatched"), status)
        if self.logger.isEnabledFor(logging.INFO):
            size = None
            if environ.get("REQUEST_METHOD") != "HEAD":
                for name, value in headers:
                    if name.lower() == "content-length":
                        size = int(value) if value.isdigit() else None
            self.logger.info(protocol.combined_log_line(environ, status, size, self._timestamp()))
        return body
