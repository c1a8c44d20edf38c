"""``POST /refresh`` and ``GET /refresh/{id}``: a refresh started by URL (hosted cron).

Enabled only when ``AGGREGATOR_REFRESH_TOKEN`` is set (404 otherwise), and only with
``Authorization: Bearer <token>`` compared in constant time (401 otherwise). The refresh
runs in a background thread of the web process, under the same cross-process lock as
cron and the scheduler, so a second request answers 409 with the running run's id. The
token is never logged, echoed or counted.
"""

from __future__ import annotations

import hmac
import logging
import threading
from typing import Any

from flask import Blueprint, Response, jsonify, request

from aggregator.errors import AggregatorError, Problem
from aggregator.refresh import Busy, Enricher, Started, execute, start
from aggregator.settings import Settings
from aggregator.store import RunRecord, Store

log = logging.getLogger(__name__)

_RUN_KINDS = frozenset({"refresh", "enrich"})


class RefreshService:
    """Starts refreshes in background threads; at most one at a time, everywhere."""

    def __init__(self, settings: Settings, store: Store, enricher: Enricher | None = None) -> None:
        self.settings = settings
        self.store = store
        self.enricher = enricher
        self._threads: list[threading.Thread] = []

    def trigger(self) -> Started | Busy:
        started = start(self.store)
        if isinstance(started, Busy):
            return started
        thread = threading.Thread(
            target=self._run, args=(started,), name=f"refresh-{started.run_id}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return started

    def _run(self, started: Started) -> None:
        def on_problem(problem: Problem) -> None:
            log.warning("refresh-problem %s", problem)

        try:
            result = execute(
                self.store, self.settings, started, on_problem=on_problem, enricher=self.enricher
            )
            log.info("%s", result.summary())
        except AggregatorError as error:
            log.error("refresh-failed run=%d error=%s", started.run_id, error)

    def join(self, timeout: float | None = None) -> None:
        """Waits for background refreshes (tests, clean shutdown)."""
        for thread in self._threads:
            thread.join(timeout)


def authorized(settings: Settings, header: str | None) -> bool:
    token = settings.refresh_token
    if not token or not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def run_json(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.outcome,
        "started": run.started.isoformat(),
        "finished": run.finished.isoformat() if run.finished else None,
        "duration_ms": run.duration_ms,
        "files": run.files,
        "new": run.new,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "rejected": run.rejected,
        "status_url": f"/refresh/{run.id}",
    }


def _plain(status: int, text: str, **headers: str) -> Response:
    response = Response(text + "\n", status=status, mimetype="text/plain")
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def create_refresh_blueprint(service: RefreshService) -> Blueprint:
    blueprint = Blueprint("refresh", __name__)
    settings = service.settings

    def guard() -> Response | None:
        if not settings.refresh_token:
            return _plain(404, "not found")
        if not authorized(settings, request.headers.get("Authorization")):
            return _plain(
                401,
                "a valid bearer token is required",
                **{"WWW-Authenticate": 'Bearer realm="refresh"'},
            )
        return None

    @blueprint.post("/refresh")
    def post_refresh() -> Response:
        refused = guard()
        if refused is not None:
            return refused
        try:
            outcome = service.trigger()
        except AggregatorError as error:
            log.error("refresh-not-started error=%s", error)
            return _plain(503, "the database is not reachable")
        if isinstance(outcome, Busy):
            body = {"error": "a refresh is already running", "id": outcome.run_id}
            if outcome.run_id is not None:
                body["status_url"] = f"/refresh/{outcome.run_id}"
            response = jsonify(body)
            response.status_code = 409
        else:
            response = jsonify(
                {
                    "id": outcome.run_id,
                    "status": "running",
                    "status_url": f"/refresh/{outcome.run_id}",
                }
            )
            response.status_code = 202
            response.headers["Location"] = f"/refresh/{outcome.run_id}"
        response.headers["Cache-Control"] = "no-store"
        return response

    # Run ids are 32-bit integers in the store: a longer number is simply not found.
    @blueprint.get("/refresh/<int(max=2147483647):run_id>")
    def refresh_status(run_id: int) -> Response:
        refused = guard()
        if refused is not None:
            return refused
        try:
            run = service.store.run(run_id)
        except AggregatorError:
            return _plain(503, "the database is not reachable")
        if run is None or run.kind not in _RUN_KINDS:
            return _plain(404, "no such refresh")
        response = jsonify(run_json(run))
        response.headers["Cache-Control"] = "no-store"
        return response

    return blueprint
