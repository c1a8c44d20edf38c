"""The Flask routes: the static build's layout, the embed widget, health and metrics.

A view decides what to render (which feed, which page, 404 or 400) and hands a render
function to :meth:`WebState.produce`, which renders once per data version; the answer is
then served exactly as the hot path would serve it from the cache.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from flask import Blueprint, Response, abort, request
from werkzeug.exceptions import HTTPException

from aggregator import render
from aggregator.build import site_doc
from aggregator.errors import StoreError
from aggregator.model import ALL, LANGS, FeedKey, FeedQuery, Item, Lang
from aggregator.web import metrics, protocol
from aggregator.web.cache import Ready, make_ready
from aggregator.web.state import ROUTE_KEY, WebState

log = logging.getLogger(__name__)

_FEED_EXTENSIONS = "any(" + ", ".join(render.FORMATS) + ")"
_NOSNIFF = ("X-Content-Type-Options", "nosniff")
_CORS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "ETag"),
)
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors "
)
_PAGE_HEADERS = (
    ("Content-Security-Policy", _CSP + "'none'"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    _NOSNIFF,
)
#: The widget is meant to be framed by any site, so no X-Frame-Options.
_EMBED_HEADERS = (
    ("Content-Security-Policy", _CSP + "*"),
    ("Referrer-Policy", "no-referrer"),
    _NOSNIFF,
)
_ICON_HEADERS = (
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
    _NOSNIFF,
)
_PREFLIGHT = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
    ("Access-Control-Allow-Headers", "If-None-Match, If-Modified-Since"),
    ("Access-Control-Max-Age", "86400"),
)
_RETRY_AFTER = "30"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def plain(status: int, text: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
    """A one-line plain-text answer (errors): never cached by clients."""
    response = Response(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    for name, value in headers:
        response.headers[name] = value
    return response


def next_page(items: Sequence[Item], params: protocol.FeedParams) -> list[tuple[str, str]]:
    """The cursor of the page after ``items``: the last entry's time and how many entries
    at exactly that time were already shown (this page's and, when the page began inside
    the same group, the earlier pages')."""
    last = _epoch(items[-1].effective_published)
    shown = sum(1 for item in items if _epoch(item.effective_published) == last)
    if params.before is not None and params.skip is not None and _epoch(params.before) == last:
        shown += params.skip
    found = [(name, value) for name, value in params.page_params() if name in ("limit", "q")]
    found.append(("before", render.rfc3339(items[-1].effective_published)))
    found.append(("skip", str(shown)))
    return found


def create_blueprint(state: WebState) -> Blueprint:
    settings = state.settings
    store = state.store
    views = Blueprint("web", __name__)

    def answer(ready: Ready) -> Response:
        status, headers, body = ready.choose(
            protocol.accepts_gzip(request.headers.get("Accept-Encoding", "")),
            request.headers.get("If-None-Match"),
            request.headers.get("If-Modified-Since"),
        )
        return Response(body, status=int(status[:3]), headers=headers)

    def serve(route: str, render_ready: Callable[[], Ready]) -> Response:
        request.environ[ROUTE_KEY] = route
        key = state.cache_key(request.environ)
        return answer(state.produce(key, render_ready))

    def base_url() -> str:
        return state.base_url(request.environ)

    def query() -> tuple[tuple[str, str], ...]:
        found = protocol.query_key(request.environ.get("QUERY_STRING") or "")
        if found is None:
            raise protocol.ParamError("the query string must be UTF-8 with few parameters")
        return found

    def check_scope(scope: str, lang: str | None) -> FeedKey:
        """Without the database: a well-formed agency slug and a known language, else 404."""
        if not protocol.SLUG.match(scope) or (lang is not None and lang not in LANGS):
            abort(404)
        return FeedKey(scope, lang if lang in LANGS else None)

    def check_exists(key: FeedKey) -> None:
        if key.scope != ALL and key.scope not in state.known_agencies():
            abort(404)

    @views.before_app_request
    def label_route() -> None:
        request.environ[ROUTE_KEY] = (
            request.endpoint.rsplit(".", 1)[-1] if request.endpoint else "unmatched"
        )

    @views.after_app_request
    def common_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.method == "OPTIONS":
            for name, value in _PREFLIGHT:
                response.headers[name] = value
        return response

    # --- feeds --------------------------------------------------------------------------

    @views.route(f"/<scope>.<{_FEED_EXTENSIONS}:ext>", endpoint="feed")
    @views.route(f"/<scope>/<lang>.<{_FEED_EXTENSIONS}:ext>", endpoint="feed")
    def feed(scope: str, ext: str, lang: str | None = None) -> Response:
        key = check_scope(scope, lang)
        params = protocol.feed_params(query(), settings.feed_size)

        def render_feed() -> Ready:
            check_exists(key)
            base = base_url()
            items = store.feed_items(
                FeedQuery(
                    key, limit=params.limit + 1, q=params.q, before=params.before, skip=params.skip
                )
            )
            page, more = items[: params.limit], len(items) > params.limit
            url = render.feed_url(base, key, ext)
            doc = render.FeedDoc(
                key=key,
                items=page,
                base_url=base,
                next_url=protocol.with_query(url, next_page(page, params)) if more else None,
                self_url=protocol.with_query(url, params.page_params()),
            )
            fmt = render.FORMATS[ext]
            return make_ready(
                "feed",
                fmt.render(doc),
                content_type=fmt.content_type,
                last_modified=_epoch(render.feed_updated(page)),
                max_age=settings.cache_max_age,
                extra=(*_CORS, _NOSNIFF),
            )

        return serve("feed", render_feed)

    # --- pages --------------------------------------------------------------------------

    def render_site(route: str, content_type: str, *, opml: bool) -> Ready:
        site = site_doc(store, base_url())
        body = render.render_opml(site) if opml else render.render_index(site)
        return make_ready(
            route,
            body,
            content_type=content_type,
            last_modified=_epoch(render.feed_updated(site.newest)),
            max_age=settings.cache_max_age,
            extra=(*_CORS, _NOSNIFF) if opml else _PAGE_HEADERS,
        )

    @views.route("/", endpoint="index")
    @views.route("/index.html", endpoint="index")
    def index() -> Response:
        return serve("index", lambda: render_site("index", render.INDEX_CONTENT_TYPE, opml=False))

    @views.route("/feeds.opml", endpoint="opml")
    def opml() -> Response:
        return serve("opml", lambda: render_site("opml", render.OPML_CONTENT_TYPE, opml=True))

    @views.route("/icon.svg", endpoint="icon")
    def icon() -> Response:
        return serve(
            "icon",
            lambda: make_ready(
                "icon",
                render.ICON_SVG,
                content_type=render.ICON_CONTENT_TYPE,
                last_modified=_epoch(render.EMPTY_FEED_UPDATED),
                max_age=settings.cache_max_age,
                extra=_ICON_HEADERS,
            ),
        )

    @views.route("/embed/<scope>", endpoint="embed")
    @views.route("/embed/<scope>/<lang>", endpoint="embed")
    def embed(scope: str, lang: str | None = None) -> Response:
        key = check_scope(scope, lang)
        params = protocol.embed_params(query())
        ui_lang: Lang = key.lang or protocol.ui_language(request.headers.get("Accept-Language", ""))

        def render_embed() -> Ready:
            check_exists(key)
            items = store.feed_items(FeedQuery(key, limit=params.n))
            title = render.feed_title(key) if key.lang else render.scope_name(key.scope, ui_lang)
            body = render.render_embed(items, title=title, ui_lang=ui_lang, theme=params.theme)
            return make_ready(
                "embed",
                body,
                content_type=render.EMBED_CONTENT_TYPE,
                last_modified=_epoch(render.feed_updated(items)),
                max_age=settings.cache_max_age,
                extra=_EMBED_HEADERS,
                vary="Accept-Encoding" if key.lang else "Accept-Encoding, Accept-Language",
            )

        return serve("embed", render_embed)

    # --- operations ---------------------------------------------------------------------

    @views.route("/healthz", endpoint="healthz")
    def healthz() -> Response:
        body: dict[str, object]
        try:
            if not store.ping():
                raise StoreError("database unreachable")
            last = store.last_success("refresh")
            body = {
                "status": "ok",
                "database": "reachable",
                "items": store.count_items(),
                "data_version": store.data_version(),
                "last_refresh": last.finished.isoformat()
                if last is not None and last.finished is not None
                else None,
                "enrichment": store.enrichment_counts(),
            }
            status = 200
        except StoreError:
            body = {"status": "unavailable", "database": "unreachable"}
            status = 503
        response = Response(json.dumps(body) + "\n", status=status, content_type="application/json")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Access-Control-Allow-Origin"] = "*"
        if status == 503:
            response.headers["Retry-After"] = _RETRY_AFTER
        return response

    @views.route("/metrics", endpoint="metrics")
    def metrics_page() -> Response:
        response = Response(state.metrics.exposition(), content_type=metrics.CONTENT_TYPE)
        response.headers["Cache-Control"] = "no-store"
        return response

    # --- errors -------------------------------------------------------------------------

    @views.app_errorhandler(protocol.ParamError)
    def bad_param(error: protocol.ParamError) -> Response:
        return plain(400, str(error))

    @views.app_errorhandler(protocol.BadHost)
    def bad_host(error: protocol.BadHost) -> Response:
        return plain(400, str(error))

    @views.app_errorhandler(StoreError)
    def store_down(error: StoreError) -> Response:
        log.warning("store-unavailable path=%s error=%s", request.path, error)
        return plain(503, "the database is unavailable", [("Retry-After", _RETRY_AFTER)])

    @views.app_errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        response = plain(error.code or 500, f"{error.code} {error.name}".lower())
        for name, value in error.get_headers():
            if name.lower() == "allow" or name.lower() == "location":
                response.headers[name] = value
        return response

    return views
