"""The ``aggregator`` command line: the edge where settings, logging and exit codes live.

Exit codes, for cron: 0 all good; 2 some input was rejected (every good item kept);
1 fatal (bad configuration, database unreachable), printed as one ``Error:`` line.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from aggregator import __version__
from aggregator.build import build as build_site
from aggregator.errors import AggregatorError, Problem
from aggregator.ingest import Ingester, IngestReport, Progress, find_seed_files
from aggregator.refresh import Busy, Enricher, refresh_once
from aggregator.refresh import start as refresh_start
from aggregator.schedule import make_scheduler, run_until_signalled
from aggregator.settings import SETTINGS_TABLE, Settings, from_env
from aggregator.store import Store

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_REJECTED = 2  # fatal errors exit 1 through click.ClickException

_PROGRESS_MIN_BYTES = 8 << 20


def _settings_help() -> str:
    lines = ["\b", "Settings (environment variables):"]
    lines += [f"  {s.env} (default {s.default or 'empty'!s})" for s in SETTINGS_TABLE]
    return "\n".join(lines)


def fatal_errors(func: F) -> F:
    """Operational failures become one ``Error: ...`` line and exit 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AggregatorError as error:
            raise click.ClickException(str(error)) from None

    return wrapper  # type: ignore[return-value]


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    if settings is None:
        try:
            settings = from_env()
        except AggregatorError as error:
            raise click.ClickException(str(error)) from None
        ctx.obj = settings
    return settings


def print_problem(problem: Problem) -> None:
    click.echo(str(problem), err=True)


def progress_bar(total: int, files: int) -> Progress:
    """A byte progress bar on a terminal for long runs; nothing otherwise."""
    bar = tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc=f"ingesting {files} file(s)",
        disable=None if total >= _PROGRESS_MIN_BYTES else True,
        file=sys.stderr,
        leave=False,
        mininterval=0.5,
    )

    def advance(done: int) -> None:
        bar.update(done)
        if bar.n >= total:
            bar.close()

    return advance


def open_store(settings: Settings) -> Store:
    return Store.open(settings.database_url)


def run_ingest(
    store: Store,
    paths: list[Path],
    *,
    kind: str,
    skip_unchanged: bool,
) -> IngestReport:
    """Ingests and records the run; shared by ``ingest`` and ``refresh``."""
    started = time.monotonic()
    run_id = store.begin_run(kind, int(time.time()))
    report = IngestReport()
    outcome = "failed"
    try:
        Ingester(store, on_problem=print_problem, progress=progress_bar).run(
            find_seed_files(paths), run_id=run_id, skip_unchanged=skip_unchanged, report=report
        )
        outcome = "rejected" if report.rejected else "ok"
    finally:
        try:
            store.finish_run(
                run_id,
                outcome=outcome,
                now=int(time.time()),
                duration_ms=int((time.monotonic() - started) * 1000),
                files=report.files,
                counts=report.counts,
                rejected=report.rejected,
                details=report.as_details(),
            )
        except AggregatorError:
            if outcome != "failed":
                raise
    return report


@click.group(epilog=_settings_help())
@click.version_option(__version__, prog_name="aggregator")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Republish gov.kz press releases as Atom, RSS and JSON feeds."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The driver's own complaints about a dropped connection repeat our one Error: line.
    logging.getLogger("psycopg").setLevel(max(level, logging.ERROR))
    settings_of(ctx)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
@fatal_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Read digest files or folders (default: AGGREGATOR_SEEDS) into the store."""
    settings = settings_of(ctx)
    targets = list(paths) or [settings.seeds]
    missing = [str(path) for path in targets if not path.exists()]
    store = open_store(settings)
    report = run_ingest(
        store, [p for p in targets if p.exists()], kind="ingest", skip_unchanged=False
    )
    for name in missing:
        print_problem(Problem(name, 1, "missing", "no such file or folder"))
        report.rejected += 1
    click.echo(f"ingest: {report.summary()}")
    ctx.exit(EXIT_REJECTED if report.rejected else EXIT_OK)


@cli.command()
@click.pass_context
@fatal_errors
def export(ctx: click.Context) -> None:
    """Write every stored item as JSON Lines on stdout, newest first (a lossless backup)."""
    store = open_store(settings_of(ctx))
    out = sys.stdout.buffer  # UTF-8 whatever the locale: the backup format is UTF-8
    for record in store.export_records():
        out.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    out.flush()


@cli.command(name="import")
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.pass_context
@fatal_errors
def import_(ctx: click.Context, source: Any) -> None:
    """Read an `aggregator export` (file or stdin) back into the store."""
    store = open_store(settings_of(ctx))

    def records() -> Iterator[dict[str, Any]]:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                raise click.ClickException(f"{source.name}:{number}: not JSON: {error}") from None

    counts = store.import_records(records(), now=int(time.time()))
    click.echo(f"import: new={counts.new} updated={counts.updated}")


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Output folder (default: AGGREGATOR_STATIC_DIR, else feeds/).",
)
@click.pass_context
@fatal_errors
def build(ctx: click.Context, out: Path | None) -> None:
    """Write every feed, index.html and feeds.opml into a folder, atomically."""
    settings = settings_of(ctx)
    target = out or settings.static_dir or Path("feeds")
    report = build_site(
        open_store(settings),
        target,
        base_url=settings.static_base_url,
        feed_size=settings.feed_size,
    )
    click.echo(f"build: {report.summary()} out={target}")


def _enricher(settings: Settings, fetch: bool) -> Enricher | None:
    """The source fetcher when enrichment is on (``--fetch`` or AGGREGATOR_FETCH_SOURCES)."""
    if not (fetch or settings.fetch_sources):
        return None
    from aggregator.enrich import make_enricher

    return make_enricher(settings)


def _refresh_job(settings: Settings, store: Store, enricher: Enricher | None) -> Callable[[], None]:
    """One scheduled refresh; a failure is logged and the scheduler keeps going."""

    def job() -> None:
        try:
            outcome = refresh_once(store, settings, on_problem=print_problem, enricher=enricher)
        except AggregatorError as error:
            click.echo(f"refresh: failed: {error}", err=True)
            return
        click.echo(outcome.summary())

    return job


@cli.command()
@click.option("--fetch", is_flag=True, help="Also fetch the gov.kz source pages (enrichment).")
@click.pass_context
@fatal_errors
def refresh(ctx: click.Context, fetch: bool) -> None:
    """Ingest changed seed files, enrich, rebuild AGGREGATOR_STATIC_DIR: safe every minute."""
    settings = settings_of(ctx)
    store = open_store(settings)
    outcome = refresh_once(
        store,
        settings,
        on_problem=print_problem,
        enricher=_enricher(settings, fetch),
        progress=progress_bar,
    )
    click.echo(outcome.summary())
    if isinstance(outcome, Busy):
        ctx.exit(EXIT_OK)
    ctx.exit(EXIT_REJECTED if outcome.ingest.rejected else EXIT_OK)


@cli.command()
@click.pass_context
@fatal_errors
def schedule(ctx: click.Context) -> None:
    """Run the refresh every AGGREGATOR_REFRESH_INTERVAL until SIGTERM/SIGINT."""
    settings = settings_of(ctx)
    store = open_store(settings)
    scheduler = make_scheduler(
        _refresh_job(settings, store, _enricher(settings, False)), settings.refresh_interval
    )
    click.echo(f"schedule: refresh every {settings.refresh_interval} (first run now)")
    run_until_signalled(scheduler)
    click.echo("schedule: stopped")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
@fatal_errors
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Single machine: ingest the seeds, refresh on schedule in-process, serve the app."""
    from aggregator.web.server import serve_forever

    settings = settings_of(ctx)
    store = open_store(settings)
    job = _refresh_job(settings, store, _enricher(settings, False))
    job()  # the feeds are there before the first request
    scheduler = make_scheduler(job, settings.refresh_interval, run_now=False)
    scheduler.start()
    click.echo(f"serve: http://{host}:{port}/ (refresh every {settings.refresh_interval})")
    try:
        serve_forever(host=host, port=port, workers=workers)
    finally:
        scheduler.shutdown(wait=True)


@cli.command()
@click.pass_context
@fatal_errors
def enrich(ctx: click.Context) -> None:
    """Fetch the gov.kz source pages of the items that are due (one run, under the lock)."""
    settings = settings_of(ctx)
    store = open_store(settings)
    started = refresh_start(store, kind="enrich")
    if isinstance(started, Busy):
        click.echo(started.summary().replace("refresh:", "enrich:", 1))
        ctx.exit(EXIT_OK)
    counts: dict[str, int] = {}
    outcome = "failed"
    try:
        enricher = _enricher(settings, True)
        assert enricher is not None
        counts = enricher(store)
        outcome = "ok"
    finally:
        store.finish_run(
            started.run_id,
            outcome=outcome,
            now=int(time.time()),
            duration_ms=int((time.monotonic() - started.started) * 1000),
            details={"enrich": counts},
        )
        started.lock.release()
    click.echo("enrich: " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))


@cli.command(name="fake-govkz")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Sample articles (default: tests/data/govkz of this checkout).",
)
@click.option("--mode", type=click.Choice(["open", "gated"]), default="open", show_default=True)
def fake_govkz(port: int, host: str, data_dir: Path | None, mode: str) -> None:
    """Serve a local fake gov.kz (pages, content API, faults) for demos and tests."""
    from aggregator.fakegovkz import run_fake

    folder = data_dir or _default_fake_data()

    def ready(fake: Any) -> None:
        click.echo(f"fake-govkz: serving {folder} at {fake.origin} (mode {mode})")
        click.echo(f"try: AGGREGATOR_SOURCE_ORIGIN={fake.origin} aggregator refresh --fetch")

    run_fake(port, folder, host, mode=mode, on_ready=ready)  # type: ignore[arg-type]


def _default_fake_data() -> Path:
    for candidate in (Path("tests/data/govkz"), Path(__file__).parent.parent / "tests/data/govkz"):
        if (candidate / "news").is_dir():
            return candidate
    raise click.ClickException("no sample data found: pass --data-dir")


def main() -> None:
    cli(prog_name="aggregator")
