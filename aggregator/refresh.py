"""One refresh: ingest changed seed files, optionally enrich, optionally rebuild the static site.

Every way of refreshing (cron's ``aggregator refresh``, the scheduler, ``POST /refresh``)
goes through :func:`start` and :func:`execute`, so "exactly one at a time, everywhere" is
decided in one place: the store's :class:`~aggregator.store.RefreshLock`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aggregator.build import BuildReport, build
from aggregator.errors import AggregatorError, Problem
from aggregator.ingest import Ingester, IngestReport, Progress, find_seed_files
from aggregator.settings import Settings
from aggregator.store import RefreshLock, Store

log = logging.getLogger(__name__)

# Problems kept in a run's record; the count is always exact.
_MAX_RECORDED_PROBLEMS = 100


class Enricher(Protocol):
    def __call__(self, store: Store) -> dict[str, int]: ...


@dataclass(slots=True)
class RefreshResult:
    run_id: int
    outcome: str = "running"
    ingest: IngestReport = field(default_factory=IngestReport)
    build: BuildReport | None = None
    enrich: dict[str, int] | None = None
    duration_ms: int = 0
    error: str | None = None

    def summary(self) -> str:
        parts = [f"refresh: run={self.run_id} outcome={self.outcome}", self.ingest.summary()]
        if self.enrich is not None:
            parts.append("enrich=" + ",".join(f"{k}:{v}" for k, v in sorted(self.enrich.items())))
        if self.build is not None:
            built = (
                "unchanged" if self.build.skipped else f"{self.build.written}/{self.build.files}"
            )
            parts.append(f"build={built}")
        parts.append(f"{self.duration_ms} ms")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Busy:
    """Another refresh holds the lock; ``run_id`` is its run when it could be found."""

    run_id: int | None

    def summary(self) -> str:
        which = f" (run {self.run_id})" if self.run_id is not None else ""
        return f"refresh: another refresh is already running{which}; nothing to do"


@dataclass(slots=True)
class Started:
    """A refresh that owns the lock and has a run id, ready to :func:`execute`."""

    lock: RefreshLock
    run_id: int
    started: float


def start(
    store: Store, *, kind: str = "refresh", clock: Callable[[], float] = time.time
) -> Started | Busy:
    """Takes the refresh lock without waiting and records the run as running.

    ``aggregator enrich`` takes the same lock (kind ``enrich``): it writes the same rows.
    """
    lock = store.refresh_lock()
    if not lock.acquire():
        running = store.running_run()
        return Busy(running.id if running is not None else None)
    try:
        # Holding the lock, any run still marked running was killed mid-way.
        for stale in ("refresh", "enrich"):
            store.abandon_stale_runs(stale, int(clock()))
        run_id = store.begin_run(kind, int(clock()))
    except BaseException:
        lock.release()
        raise
    return Started(lock=lock, run_id=run_id, started=time.monotonic())


def execute(
    store: Store,
    settings: Settings,
    started: Started,
    *,
    on_problem: Callable[[Problem], None],
    enricher: Enricher | None = None,
    progress: Callable[[int, int], Progress] | None = None,
    clock: Callable[[], float] = time.time,
) -> RefreshResult:
    """Runs the refresh that :func:`start` began, records its outcome, releases the lock."""
    result = RefreshResult(run_id=started.run_id)
    problems: list[str] = []

    def record(problem: Problem) -> None:
        if len(problems) < _MAX_RECORDED_PROBLEMS:
            problems.append(str(problem))
        on_problem(problem)

    try:
        seeds = [settings.seeds] if settings.seeds.exists() else []
        if not seeds:
            record(Problem(str(settings.seeds), 1, "missing", "no such seeds folder"))
            result.ingest.rejected += 1
        Ingester(store, on_problem=record, clock=clock, progress=progress).run(
            find_seed_files(seeds),
            run_id=started.run_id,
            skip_unchanged=True,
            report=result.ingest,
        )
        if enricher is not None:
            result.enrich = enricher(store)
        if settings.static_dir is not None:
            result.build = build(
                store,
                Path(settings.static_dir),
                base_url=settings.static_base_url,
                feed_size=settings.feed_size,
            )
        result.outcome = "rejected" if result.ingest.rejected else "ok"
    except AggregatorError as error:
        result.outcome = "failed"
        result.error = str(error)
        raise
    except OSError as error:
        # A full disk or an unwritable static folder: the store is consistent, report it.
        result.outcome = "failed"
        result.error = f"{error.__class__.__name__}: {error.strerror or error}"
        raise AggregatorError(result.error) from None
    except BaseException as error:
        # A bug or an interruption (SIGINT): recorded as failed, then re-raised as it is.
        result.outcome = "failed"
        result.error = error.__class__.__name__
        raise
    finally:
        result.duration_ms = int((time.monotonic() - started.started) * 1000)
        _record(store, result, problems, clock)
        started.lock.release()
    log.info("refresh %s", result.summary())
    return result


def _record(
    store: Store, result: RefreshResult, problems: list[str], clock: Callable[[], float]
) -> None:
    details: dict[str, Any] = result.ingest.as_details()
    details["problem_lines"] = problems
    if result.error:
        details["error"] = result.error
    if result.enrich is not None:
        details["enrich"] = result.enrich
    if result.build is not None:
        details["build"] = {"files": result.build.files, "written": result.build.written}
    try:
        store.finish_run(
            result.run_id,
            outcome=result.outcome,
            now=int(clock()),
            duration_ms=result.duration_ms,
            files=result.ingest.files,
            counts=result.ingest.counts,
            rejected=result.ingest.rejected,
            details=details,
        )
    except AggregatorError as error:
        # The database went away: the run stays "running" until the next refresh marks it
        # abandoned. The original failure, if any, is what the caller sees.
        log.warning("could not record run=%d: %s", result.run_id, error)


def refresh_once(
    store: Store,
    settings: Settings,
    *,
    on_problem: Callable[[Problem], None],
    enricher: Enricher | None = None,
    progress: Callable[[int, int], Progress] | None = None,
) -> RefreshResult | Busy:
    """Start and execute in one call (cron and the scheduler)."""
    started = start(store)
    if isinstance(started, Busy):
        return started
    return execute(
        store, settings, started, on_problem=on_problem, enricher=enricher, progress=progress
    )
