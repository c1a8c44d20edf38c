"""``python -m benchmarks [--items N] [--quick]``: the whole benchmark, one run, one report.

Generates the synthetic digest, measures every phase several times (median, min-max),
serves one cached feed from three servers under the same load generator, prints the
Markdown tables and writes the JSON (``benchmarks/results/latest.json`` unless ``--out``)
with the Markdown beside it (``.md``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregator.model import FeedKey, FeedQuery
from aggregator.store import Store
from benchmarks import bigstore, loadgen, machine, pipeline, report, serving, synth
from benchmarks.figures import (
    CONNECTIONS,
    FIGURE_NAMES,
    REQUESTS,
    SERVE_METRICS,
    SERVERS,
    Figure,
    serve_name,
)

log = logging.getLogger("benchmarks")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
POSTGRES_ENV = "AGGREGATOR_TEST_POSTGRES_URL"

#: Why a figure may be absent; the test accepts these and nothing else.
SKIP_QUICK = "--quick"
SKIP_NO_POSTGRES = f"no PostgreSQL URL (--postgres-url or {POSTGRES_ENV})"
SKIP_NO_NGINX = "nginx is not installed"
SKIP_NO_PROCFILE = "the repository has no Procfile with a web: line"
SKIP_NO_SERVING = "--no-serve"

BIG_ITEMS = 1_000_000
PROCFILE_POLL = 30.0
QUIET_POLL = 10.0
#: A measurement during which other processes took more of the CPUs than this is flagged
#: (serving: measured again once). The kernel's own loopback work is part of it (~8%).
INTERFERED = report.INTERFERED
SERVE_ATTEMPTS = 2


@dataclass(frozen=True, slots=True)
class Options:
    items: int
    quick: bool
    repeat: int
    out: Path
    postgres_url: str
    workdir: Path | None
    keep: bool
    serve_seconds: float
    serve_repeat: int
    connections: tuple[int, ...]
    loadgen: str
    workers: int | None
    procfile_wait: float
    procfile: Path
    wait_quiet: float
    serve: bool
    big: bool


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--items", type=int, default=None, help="items in the digest (100,000)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2,000 items, 1 run, 2 s of serving"
    )
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result path")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_ENV, ""),
        help=f"PostgreSQL server for the cold ingest (default ${POSTGRES_ENV})",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the scratch folder")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--serve-seconds", type=float, default=None, help="per measurement (10)")
    parser.add_argument(
        "--serve-repeat", type=int, default=None, help="runs per serving figure (3)"
    )
    parser.add_argument(
        "--loadgen", choices=("auto", "wrk", "python"), default="auto", help="load generator"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="server workers (default: the Procfile's)"
    )
    parser.add_argument(
        "--procfile-wait",
        type=float,
        default=None,
        help="seconds to wait for a Procfile to appear (2400; 0 with --quick)",
    )
    parser.add_argument(
        "--procfile", type=Path, default=ROOT / "Procfile", help="the Procfile to run (the repo's)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=None,
        help="seconds to wait, before each phase, for other processes to leave the CPUs "
        "(600; 0 with --quick)",
    )
    parser.add_argument("--no-serve", action="store_true", help="skip the serving benchmark")
    args = parser.parse_args(argv)
    quick: bool = args.quick
    tool = args.loadgen
    if tool == "auto":
        tool = "wrk" if loadgen.wrk_path() else "python"
    return Options(
        items=args.items if args.items is not None else (2_000 if quick else 100_000),
        quick=quick,
        repeat=max(1, args.repeat if args.repeat is not None else (1 if quick else 3)),
        out=args.out,
        postgres_url=args.postgres_url,
        workdir=args.workdir,
        keep=args.keep,
        serve_seconds=args.serve_seconds or (2.0 if quick else 10.0),
        serve_repeat=max(1, args.serve_repeat or (1 if quick else 3)),
        connections=(16,) if quick else CONNECTIONS,
        loadgen=tool,
        workers=args.workers,
        procfile_wait=args.procfile_wait
        if args.procfile_wait is not None
        else (0.0 if quick else 2400.0),
        procfile=args.procfile,
        wait_quiet=args.wait_quiet if args.wait_quiet is not None else (0.0 if quick else 600.0),
        serve=not args.no_serve,
        big=not quick,
    )


class Bench:
    """One benchmark run: its scratch folder, its figures, and what it learned on the way."""

    def __init__(self, options: Options, work: Path) -> None:
        self.options = options
        self.work = work
        self.figures: dict[str, Figure] = {name: Figure(name) for name in FIGURE_NAMES}
        self.seeds = work / "seeds"
        self.digest = self.seeds / "digest.txt"
        self.store_path = work / "store.db"
        self.store_url = f"sqlite:///{self.store_path}"
        self.info: synth.DigestInfo | None = None
        self.notes: dict[str, Any] = {}
        self.plans: dict[str, list[str]] = {}
        self.failures: list[str] = []
        self.postgres_version: str | None = None
        self.background: dict[str, float] = {}
        self.interference: dict[str, float] = {}

    # --- bookkeeping ---------------------------------------------------------------------

    def record(self, name: str, value: float, watch: machine.CpuWatch | None = None) -> None:
        """One run's value, and how much of the CPUs other processes took meanwhile."""
        self.figures[name].runs.append(value)
        if watch is not None and watch.other_share is not None:
            seen = self.interference.get(name, 0.0)
            self.interference[name] = round(max(seen, watch.other_share), 3)

    def skip(self, names: list[str], reason: str) -> None:
        for name in names:
            if not self.figures[name].runs:
                self.figures[name].skipped = reason

    def quiet(self, label: str) -> None:
        """Waits (up to --wait-quiet) for other processes to leave the CPUs; records how busy
        they kept them, which the report shows when it could have skewed the figures."""
        deadline = time.monotonic() + self.options.wait_quiet
        while True:
            busy = machine.cpu_busy(0.5 if self.options.quick else 1.0)
            if busy is None:
                return
            if busy <= machine.BUSY_SHARE or time.monotonic() >= deadline:
                self.background[label] = round(busy, 3)
                return
            log.info("other processes keep %.0f%% of the CPUs busy; waiting", busy * 100)
            time.sleep(QUIET_POLL)

    @contextmanager
    def phase(self, title: str, names: list[str]) -> Iterator[None]:
        """A failing phase is reported, its figures marked, and the run goes on."""
        self.quiet(title)
        started = time.perf_counter()
        log.info("phase=%s start", title)
        try:
            yield
        except Exception as error:  # the rest of the benchmark still runs
            log.error("phase=%s failed: %s\n%s", title, error, traceback.format_exc())
            self.failures.append(f"{title}: {error}")
            first = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            self.skip(names, f"error: {first}"[:200])
        finally:
            log.info("phase=%s seconds=%.1f", title, time.perf_counter() - started)

    @property
    def runs(self) -> int:
        return self.options.repeat

    # --- phases --------------------------------------------------------------------------

    def generate(self) -> synth.DigestInfo:
        self.seeds.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        self.info = synth.write_digest(self.digest, self.options.items)
        log.info(
            "digest items=%d unique=%d bytes=%d seconds=%.1f",
            self.info.blocks,
            self.info.unique,
            self.info.bytes,
            time.perf_counter() - started,
        )
        return self.info

    def read_and_parse(self) -> None:
        with self.phase("parse", ["read_floor", "parse"]):
            for run in range(self.runs):
                with machine.CpuWatch() as watch:
                    floor = pipeline.read_floor(self.digest)
                    parsed = pipeline.parse_only(self.digest)
                if parsed.items != self.options.items or parsed.problems:
                    raise RuntimeError(
                        f"parsed {parsed.items} items and {parsed.problems} problems, "
                        f"expected {self.options.items} and 0"
                    )
                self.record("read_floor", floor, watch)
                self.record("parse", parsed.seconds, watch)
                log.info("run=%d floor=%.2fs parse=%.2fs", run, floor, parsed.seconds)

    def cold_sqlite(self) -> None:
        names = ["ingest_cold_sqlite", "ingest_peak_rss", "ingest_base_rss"]
        with self.phase("cold-sqlite", names):
            assert self.info is not None
            for run in range(self.runs):
                path = self.work / f"cold-{run}.db"
                with machine.CpuWatch() as watch:
                    result = pipeline.ingest_in_child(f"sqlite:///{path}", self.digest)
                self._check_cold(result)
                self.record("ingest_cold_sqlite", result.seconds, watch)
                self.record("ingest_peak_rss", result.peak_rss_mb)
                log.info("run=%d cold=%.2fs rss=%.0fMB", run, result.seconds, result.peak_rss_mb)
                if run == self.runs - 1:
                    path.rename(self.store_path)
                    for suffix in ("-wal", "-shm"):
                        side = path.with_name(path.name + suffix)
                        if side.exists():
                            side.rename(self.store_path.with_name(self.store_path.name + suffix))
                else:
                    for side in self.work.glob(f"cold-{run}.db*"):
                        side.unlink()
            base = pipeline.ingest_in_child(
                f"sqlite:///{self.work / 'noop.db'}", self.digest, noop=True
            )
            self.record("ingest_base_rss", base.peak_rss_mb)

    def _check_cold(self, result: pipeline.ChildResult) -> None:
        assert self.info is not None
        new = result.details.get("new")
        if new != self.info.unique or result.details.get("rejected"):
            raise RuntimeError(f"cold ingest stored {new}, expected {self.info.unique}: {result}")

    def refresh_unchanged(self, store: Store) -> None:
        names = ["refresh_unchanged", "refresh_unchanged_process"]
        with self.phase("refresh-unchanged", names):
            settings = pipeline.settings_for(self.store_url, self.seeds)
            for _ in range(max(5, self.runs)):
                with machine.CpuWatch() as watch:
                    seconds, result = pipeline.refresh_in_process(store, settings)
                if result.ingest.skipped != 1 or result.ingest.counts.new:
                    raise RuntimeError(f"refresh did not skip the file: {result.summary()}")
                self.record("refresh_unchanged", seconds * 1000, watch)
            for _ in range(self.runs):
                self.record(
                    "refresh_unchanged_process",
                    pipeline.refresh_process(self.store_url, self.seeds, self.work),
                )

    def build(self, store: Store) -> None:
        names = ["build_cold", "build_unchanged", "build_unchanged_rewritten"]
        with self.phase("build", names):
            out = self.work / "feeds-0"
            for run in range(self.runs):
                out = self.work / f"feeds-{run}"
                with machine.CpuWatch() as watch:
                    result = pipeline.build_once(store, out)
                self.record("build_cold", result.seconds, watch)
                self.notes["build_files"] = result.files
                log.info("run=%d build cold=%.2fs files=%d", run, result.seconds, result.files)
            for run in range(self.runs):
                with machine.CpuWatch() as watch:
                    result = pipeline.build_once(store, out)
                self.record("build_unchanged", result.seconds, watch)
                self.record("build_unchanged_rewritten", max(result.written, result.touched))
                log.info(
                    "run=%d build unchanged=%.2fs written=%d", run, result.seconds, result.written
                )
            self.figures["build_cold"].note = f"{self.notes['build_files']} files"

    def render_and_query(self, store: Store) -> None:
        with self.phase("render", ["render_feed"]):
            items = store.feed_items(FeedQuery(FeedKey(), limit=pipeline.FEED_SIZE))
            calls = 5 if self.options.quick else 30
            self.figures["render_feed"].runs += pipeline.per_call_ms(
                pipeline.render_seconds(items, calls)
            )
        with self.phase("query-100k", ["query_feed_100k", "query_full_scans"]):
            key = pipeline.busiest_feed(store)
            plan = pipeline.query_plan(store, key)
            self.plans[f"{key.path_stem} at {self.options.items:,} items"] = plan
            scans = pipeline.full_scans(plan)
            self.record("query_full_scans", len(scans))
            if scans:
                self.figures["query_full_scans"].note = "; ".join(dict.fromkeys(scans))
            calls = 50 if self.options.quick else 200
            self.figures["query_feed_100k"].runs += pipeline.per_call_ms(
                pipeline.query_seconds(store, key, calls)
            )
            self.figures["query_feed_100k"].note = f"{key.path_stem}, per call"
            if self.options.items != 100_000:
                self.figures["query_feed_100k"].note += f", {self.options.items:,} items"

    def changed(self, store: Store) -> None:
        with self.phase("changed-1pct", ["ingest_changed_1pct"]):
            settings = pipeline.settings_for(self.store_url, self.seeds)
            for run in range(self.runs):
                info = synth.write_digest(self.digest, self.options.items, variant=run + 1)
                with machine.CpuWatch() as watch:
                    seconds, result = pipeline.refresh_in_process(store, settings)
                counts = result.ingest.counts
                if counts.new or not counts.updated:
                    raise RuntimeError(f"1% change gave {result.summary()}")
                self.record("ingest_changed_1pct", seconds, watch)
                self.notes["changed_items"] = info.changed
                self.notes["changed_updated"] = counts.updated
                log.info("run=%d changed=%.2fs updated=%d", run, seconds, counts.updated)
            updated = self.notes["changed_updated"]
            self.figures["ingest_changed_1pct"].note = f"{updated:,} rows updated"

    def cold_postgres(self) -> None:
        names = ["ingest_cold_postgres"]
        if not self.options.postgres_url:
            self.skip(names, SKIP_NO_POSTGRES)
            return
        with self.phase("cold-postgres", names):
            self.postgres_version = pipeline.postgres_version(self.options.postgres_url)
            for run in range(self.runs):
                name = f"govkz_bench_{os.getpid()}_{secrets.token_hex(4)}"
                scratch = pipeline.ScratchDatabase.create(self.options.postgres_url, name)
                try:
                    with machine.CpuWatch() as watch:
                        result = pipeline.ingest_in_child(scratch.url, self.digest)
                finally:
                    scratch.drop()
                self._check_cold(result)
                self.record("ingest_cold_postgres", result.seconds, watch)
                log.info("run=%d postgres cold=%.2fs", run, result.seconds)

    def big_query(self) -> None:
        names = ["query_feed_1m"]
        if not self.options.big:
            self.skip(names, SKIP_QUICK)
            return
        with self.phase("query-1m", names):
            path = self.work / "big.db"
            started = time.perf_counter()
            bigstore.fill(path, BIG_ITEMS)
            self.notes["big_fill_seconds"] = round(time.perf_counter() - started, 1)
            big = Store.open(f"sqlite:///{path}")
            try:
                key = pipeline.busiest_feed(big)
                self.plans[f"{key.path_stem} at {BIG_ITEMS:,} items"] = pipeline.query_plan(
                    big, key
                )
                self.figures["query_feed_1m"].runs += pipeline.per_call_ms(
                    pipeline.query_seconds(big, key, 20 if self._slow_query(big, key) else 200)
                )
                self.figures["query_feed_1m"].note = f"{key.path_stem}, per call"
            finally:
                big.close()
                for side in self.work.glob("big.db*"):
                    side.unlink()

    @staticmethod
    def _slow_query(store: Store, key: FeedKey) -> bool:
        """Fewer calls when one takes long (a full scan), to keep the run bounded."""
        return min(pipeline.query_seconds(store, key, 3)) > 0.05

    # --- serving ---------------------------------------------------------------------------

    def serving_names(self, server: str | None = None) -> list[str]:
        return [
            serve_name(s, request, connections, metric)
            for s in SERVERS
            if server in (None, s)
            for request in REQUESTS
            for connections in CONNECTIONS
            for metric in SERVE_METRICS
        ]

    def wait_for_procfile(self) -> str | None:
        deadline = time.monotonic() + self.options.procfile_wait
        while True:
            command = serving.procfile_web(self.options.procfile)
            if command is not None or time.monotonic() >= deadline:
                return command
            log.info(
                "waiting for a Procfile with a web: line (polling every %.0f s)", PROCFILE_POLL
            )
            time.sleep(PROCFILE_POLL)

    def serve(self) -> None:
        if not self.options.serve:
            self.skip(self.serving_names(), SKIP_NO_SERVING)
            return
        for connections in CONNECTIONS:
            if connections not in self.options.connections:
                self.skip([n for n in self.serving_names() if f"_c{connections}_" in n], SKIP_QUICK)
        command = self.wait_for_procfile()
        if command is None:
            self.skip(self.serving_names(), SKIP_NO_PROCFILE)
            return
        workers = self.options.workers or serving.procfile_workers(command)
        self.notes["workers"] = workers
        self.notes["procfile_web"] = command
        started: list[serving.Running] = []
        try:
            feed = self._start_servers(command, workers, started)
            if feed is None:
                return
            ready: list[tuple[serving.Running, dict[str, dict[str, str]]]] = []
            for server in started:
                with self.phase(f"serve-check-{server.name}", self.serving_names(server.name)):
                    ready.append((server, self._prepare(server, feed)))
            names = [n for server, _ in ready for n in self.serving_names(server.name)]
            with self.phase("serve-load", names):
                self._measure(ready)
        finally:
            for server in started:
                server.stop()

    def _start_servers(
        self, command: str, workers: int, started: list[serving.Running]
    ) -> serving.FeedBytes | None:
        """Starts all three (they idle while another is measured); the app's bytes for all."""
        feed: serving.FeedBytes | None = None
        with self.phase("serve-start-app", self.serving_names()):
            app = serving.start_app(
                command,
                root=ROOT,
                database_url=self.store_url,
                seeds=self.seeds,
                work=self.work,
                workers=workers,
            )
            started.append(app)
            feed = serving.capture(app)
            self.notes["feed_bytes"] = {"plain": len(feed.body), "gzip": len(feed.gzip_body)}
        if feed is None:
            return None
        with self.phase("serve-start-flask", self.serving_names("flask")):
            started.append(serving.start_flask(feed, work=self.work, workers=workers, root=ROOT))
        if serving.nginx_path() is None:
            self.skip(self.serving_names("nginx"), SKIP_NO_NGINX)
        else:
            with self.phase("serve-start-nginx", self.serving_names("nginx")):
                started.append(serving.start_nginx(feed, work=self.work, workers=workers))
        return feed

    def _prepare(
        self, server: serving.Running, feed: serving.FeedBytes
    ) -> dict[str, dict[str, str]]:
        """Checks the three answers (status, encoding, bytes) and warms every worker."""
        kinds = serving.request_headers(server)
        checks = {kind: serving.check(server, headers, feed) for kind, headers in kinds.items()}
        self.notes.setdefault("serving_checks", {})[server.name] = {
            kind: found.as_json() for kind, found in checks.items()
        }
        expected = {"plain": (200, ""), "etag": (304, ""), "gzip": (200, "gzip")}
        for kind, found in checks.items():
            if (found.status, found.encoding) != expected[kind] or not found.same_bytes:
                raise RuntimeError(f"{server.name} {kind}: unexpected answer {found}")
        serving.warm(server, kinds, rounds=10 if self.options.quick else 40)
        if not self.options.quick:
            # A second of load first: worker start-up, lazy imports and caches out of the way.
            for headers in kinds.values():
                self._load(server, headers, max(self.options.connections), 1.0)
        return kinds

    def _measure(self, ready: list[tuple[serving.Running, dict[str, dict[str, str]]]]) -> None:
        """Rounds over every server in turn, so a drift of the machine hits all alike."""
        for run in range(self.options.serve_repeat):
            self.quiet(f"serve-round-{run}")
            for connections in self.options.connections:
                for kind in REQUESTS:
                    for server, kinds in ready:
                        self._measure_one(server, kind, kinds[kind], connections)

    def _measure_one(
        self, server: serving.Running, kind: str, headers: dict[str, str], connections: int
    ) -> None:
        for attempt in range(SERVE_ATTEMPTS):
            with machine.CpuWatch([server.process.pid]) as watch:
                result = self._load(server, headers, connections, self.options.serve_seconds)
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} died:\n{server.log_tail()}")
            share = watch.other_share or 0.0
            if share <= INTERFERED or attempt == SERVE_ATTEMPTS - 1:
                break
            log.info(
                "serve=%s other processes took %.0f%% of the CPUs; again", server.name, share * 100
            )
            self.quiet(f"serve-retry-{server.name}")
        self.record(serve_name(server.name, kind, connections, "rps"), result.rps, watch)
        self.record(serve_name(server.name, kind, connections, "p50"), result.p50_ms)
        self.record(serve_name(server.name, kind, connections, "p99"), result.p99_ms)
        self.record(serve_name(server.name, kind, connections, "errors"), result.errors)
        log.info(
            "serve=%s kind=%s c=%d rps=%.0f p50=%.2fms p99=%.2fms errors=%d",
            server.name,
            kind,
            connections,
            result.rps,
            result.p50_ms,
            result.p99_ms,
            result.errors,
        )

    def _load(
        self, server: serving.Running, headers: dict[str, str], connections: int, seconds: float
    ) -> loadgen.LoadResult:
        return loadgen.run_load(
            server.url(),
            tool=self.options.loadgen,
            connections=connections,
            seconds=seconds,
            headers=headers,
            threads=os.cpu_count() or 1,
        )

    # --- the whole run -------------------------------------------------------------------------

    def run(self) -> None:
        info = self.generate()
        self.read_and_parse()
        self.cold_sqlite()
        if not self.store_path.exists():
            raise RuntimeError("no store was ingested; nothing else can be measured")
        store = Store.open(self.store_url)
        try:
            self.refresh_unchanged(store)
            self.build(store)
            self.render_and_query(store)
            self.changed(store)
        finally:
            store.close()
        self.cold_postgres()
        self.big_query()
        self.serve()
        del info

    def result(self, started: float) -> dict[str, Any]:
        info = self.info
        assert info is not None
        described = machine.describe(
            postgres=self.postgres_version,
            wrk=loadgen.wrk_version() if self.options.loadgen == "wrk" else None,
            nginx=serving.nginx_version(),
        )
        return {
            "machine": described,
            "machine_line": machine.one_line(described),
            "config": {
                "items": info.blocks,
                "unique": info.unique,
                "repeats": info.repeats,
                "agencies": info.agencies,
                "digest_mb": info.bytes / 1e6,
                "repeat": self.options.repeat,
                "quick": self.options.quick,
                "serve_seconds": self.options.serve_seconds,
                "serve_repeat": self.options.serve_repeat,
                "connections": list(self.options.connections),
                "loadgen": loadgen.wrk_version() or "wrk"
                if self.options.loadgen == "wrk"
                else "the Python load generator",
                "workers": self.notes.get("workers", self.options.workers or 0),
            },
            "notes": self.notes,
            "query_plans": self.plans,
            "background_cpu": self.background,
            "interference": self.interference,
            "failures": self.failures,
            "seconds": round(time.perf_counter() - started, 1),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }


def _scratch(options: Options) -> Path:
    parent = options.workdir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="govkz-bench-", dir=parent))


def write(out: Path, data: dict[str, Any], text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
    out.with_suffix(".md").write_text(text, "utf-8")


def main(argv: list[str] | None = None, *, echo: Callable[[str], object] = print) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    options = parse_args(argv)
    work = _scratch(options)
    bench = Bench(options, work)
    started = time.perf_counter()
    try:
        bench.run()
        result = bench.result(started)
    finally:
        if options.keep:
            log.info("kept scratch folder %s", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    data = report.as_json(result, bench.figures)
    text = report.markdown(result, bench.figures)
    write(options.out, data, text)
    echo(text)
    log.info("wrote %s and %s", options.out, options.out.with_suffix(".md"))
    if bench.failures:
        log.error("failed phases: %s", "; ".join(bench.failures))
        return 1
    return 0
