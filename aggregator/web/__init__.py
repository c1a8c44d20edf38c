"""The live web app: the static build's layout served from the store, plus an embeddable
widget, ``/healthz`` and ``/metrics``.

Run it with a production WSGI server (see the ``Procfile``)::

    granian --interface wsgi --factory aggregator.web:create_app
    gunicorn 'aggregator.web:create_app()'

Layers, outermost first: ProxyFix (only with ``AGGREGATOR_TRUST_PROXY=1``), the access log
and request metrics, the hot path that answers from rendered responses in memory, and the
Flask app that routes, validates and renders on a miss (plus ``POST /refresh``, see
:mod:`aggregator.web.refresh_api`).
"""

from __future__ import annotations

import logging
import sys

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from aggregator.enrich import make_enricher
from aggregator.errors import StoreError
from aggregator.settings import Settings, from_env
from aggregator.store import Store, display_url
from aggregator.web.hotpath import HotPath, RequestLog
from aggregator.web.refresh_api import RefreshService, create_refresh_blueprint
from aggregator.web.state import WebState
from aggregator.web.views import create_blueprint

log = logging.getLogger(__name__)

#: The access log: one combined-format line per request, on stdout.
ACCESS_LOGGER = "aggregator.web.access"
#: ``app.extensions`` key of the app's :class:`WebState`.
EXTENSION = "aggregator"


class _StdoutHandler(logging.Handler):
    """Writes to whatever ``sys.stdout`` is at the time (test runners swap it), a line each."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def _access_logger() -> logging.Logger:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def _open_store(settings: Settings) -> Store:
    """The store, migrated; when the database is down at start the app still starts (and
    answers 503) rather than crash-looping its workers."""
    try:
        return Store.open(settings.database_url)
    except StoreError as error:
        log.warning(
            "store-unavailable-at-start url=%s error=%s", display_url(settings.database_url), error
        )
        return Store.open(settings.database_url, migrate=False)


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    """The app. ``settings`` default to :func:`aggregator.settings.from_env`; ``store`` is
    opened from ``settings.database_url`` when not given. The app's :class:`WebState` (cache,
    metrics, store) is ``app.extensions["aggregator"]``."""
    settings = settings if settings is not None else from_env()
    store = store if store is not None else _open_store(settings)
    enricher = make_enricher(settings) if settings.fetch_sources else None
    refresh = RefreshService(settings, store, enricher)
    state = WebState(settings, store, refresh=refresh)
    app = Flask(__name__, static_folder=None)
    app.extensions[EXTENSION] = state
    app.register_blueprint(create_blueprint(state))
    app.register_blueprint(create_refresh_blueprint(refresh))
    wsgi = RequestLog(HotPath(app.wsgi_app, state), state.metrics, _access_logger())
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(wsgi, x_for=1, x_proto=1, x_host=1, x_prefix=1)  # type: ignore[method-assign]
    else:
        app.wsgi_app = wsgi  # type: ignore[method-assign]
    return app


__all__ = ["ACCESS_LOGGER", "EXTENSION", "create_app"]
