"""The measured phases of the pipeline: read, parse, ingest, refresh, build, render, query.

Each function does one measurement and returns plain numbers; :mod:`benchmarks.cli` decides
how often, in which order, and records the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from aggregator import digest, render
from aggregator.build import build
from aggregator.errors import Problem
from aggregator.model import FeedKey, FeedQuery, Item, Lang
from aggregator.refresh import RefreshResult, refresh_once
from aggregator.settings import Settings
from aggregator.store import Store
from aggregator.store.core import normalise_url

#: The static build's base URL when AGGREGATOR_BASE_URL is empty.
BASE_URL = "http://127.0.0.1:8000/"
FEED_SIZE = 50


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any AGGREGATOR_* setting of the caller, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update(extra)
    return env


def read_floor(path: Path) -> float:
    """Seconds to read the file line by line in text mode, doing nothing with the lines."""
    started = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline=None) as lines:
        for _line in lines:
            pass
    return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class ParseResult:
    seconds: float
    items: int
    problems: int


def parse_only(path: Path) -> ParseResult:
    """Seconds to parse the file into items (kept nowhere), reading it as the floor does."""
    items = problems = 0
    started = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline=None) as lines:
        for record in digest.parse_lines(lines, path.name):
            if isinstance(record, Problem):
                problems += 1
            else:
                items += 1
    return ParseResult(time.perf_counter() - started, items, problems)


@dataclass(frozen=True, slots=True)
class ChildResult:
    """A cold ingest in its own process: in-process seconds, peak RSS, write counts."""

    seconds: float
    peak_rss_mb: float
    wall: float
    details: dict[str, Any]


def ingest_in_child(url: str, digest_path: Path, *, noop: bool = False) -> ChildResult:
    """Runs :mod:`benchmarks.child`, which reports its own time and peak RSS."""
    command = [sys.executable, "-m", "benchmarks.child", url, str(digest_path)]
    if noop:
        command.append("--noop")
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=clean_env(), check=False, timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"ingest child failed ({done.returncode}): {done.stderr.decode()[-2000:]}"
        )
    details: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return ChildResult(float(details["seconds"]), details["peak_rss_kib"] / 1024, wall, details)


def settings_for(url: str, seeds: Path) -> Settings:
    return Settings(database_url=url, seeds=seeds)


def refresh_in_process(store: Store, settings: Settings) -> tuple[float, RefreshResult]:
    problems: list[Problem] = []
    started = time.perf_counter()
    result = refresh_once(store, settings, on_problem=problems.append)
    seconds = time.perf_counter() - started
    if not isinstance(result, RefreshResult):
        raise RuntimeError("another refresh held the lock")
    return seconds, result


def refresh_process(url: str, seeds: Path, cwd: Path) -> float:
    """Wall seconds of a whole ``aggregator refresh`` process (start-up included)."""
    env = clean_env(AGGREGATOR_DATABASE_URL=url, AGGREGATOR_SEEDS=str(seeds))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "aggregator", "refresh"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"aggregator refresh failed: {done.stderr[-2000:]}")
    return seconds


@dataclass(frozen=True, slots=True)
class BuildResult:
    seconds: float
    files: int
    written: int
    #: Files whose inode or modification time moved (a rewrite the report would not show).
    touched: int


def _file_marks(out: Path) -> dict[str, tuple[int, int]]:
    marks: dict[str, tuple[int, int]] = {}
    if out.exists():
        for path in out.rglob("*"):
            if path.is_file():
                info = path.stat()
                marks[path.relative_to(out).as_posix()] = (info.st_ino, info.st_mtime_ns)
    return marks


def build_once(store: Store, out: Path) -> BuildResult:
    before = _file_marks(out)
    started = time.perf_counter()
    report = build(store, out, base_url=BASE_URL, feed_size=FEED_SIZE)
    seconds = time.perf_counter() - started
    after = _file_marks(out)
    touched = sum(1 for name, mark in after.items() if before.get(name) not in (None, mark))
    return BuildResult(seconds, report.files, report.written, touched)


def render_seconds(items: list[Item], calls: int) -> list[float]:
    """Seconds per rendering of all.atom from entries already read."""
    doc = render.FeedDoc(key=FeedKey(), items=items, base_url=BASE_URL)
    atom = render.FORMATS["atom"]
    found: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        atom.render(doc)
        found.append(time.perf_counter() - started)
    return found


def busiest_feed(store: Store) -> FeedKey:
    """The (agency, language) feed with the most items: the deepest index range."""
    counts = store.agency_counts()
    best = max(
        (
            (count, agency, lang)
            for agency, langs in counts.items()
            for lang, count in langs.items()
        ),
    )
    lang: Lang = best[2]
    return FeedKey(best[1], lang)


@contextmanager
def captured_sql(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the store sends meanwhile, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        seen.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)


def query_plan(store: Store, key: FeedKey) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN of every statement behind one feed's entries."""
    with captured_sql(store) as seen:
        store.feed_items(FeedQuery(key, limit=FEED_SIZE))
    lines: list[str] = []
    with store.engine.connect() as conn:
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            lines.append(" ".join(statement.split())[:160] + " ...")
            raw = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            lines += [f"    {row[-1]}" for row in raw]
    return lines


def full_scans(plan: list[str]) -> list[str]:
    """Plan lines that read a whole table or sort a whole result: what an index avoids."""
    return [
        line.strip()
        for line in plan
        if line.startswith("    ")
        and (
            ("SCAN items" in line and "USING" not in line)
            or "TEMP B-TREE" in line
            or ("SCAN translations" in line and "USING" not in line)
        )
    ]


def query_seconds(store: Store, key: FeedKey, calls: int) -> list[float]:
    query = FeedQuery(key, limit=FEED_SIZE)
    store.feed_items(query)  # the statement cache and the pages, as a live app has them
    found: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        store.feed_items(query)
        found.append(time.perf_counter() - started)
    return found


@dataclass(frozen=True, slots=True)
class ScratchDatabase:
    """A throwaway PostgreSQL database on the given server, dropped by :meth:`drop`."""

    server: str
    name: str

    @property
    def url(self) -> str:
        return (
            normalise_url(self.server).set(database=self.name).render_as_string(hide_password=False)
        )

    @classmethod
    def create(cls, server: str, name: str) -> ScratchDatabase:
        admin = sa.create_engine(normalise_url(server), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(
                    f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
                )
        finally:
            admin.dispose()
        return cls(server, name)

    def drop(self) -> None:
        admin = sa.create_engine(normalise_url(self.server), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            admin.dispose()


def postgres_version(server: str) -> str:
    engine = sa.create_engine(normalise_url(server))
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar_one())
    finally:
        engine.dispose()


def per_call_ms(seconds: list[float]) -> list[float]:
    return [value * 1000 for value in seconds]


def repeat(times: int, measure: Callable[[int], float]) -> list[float]:
    return [measure(run) for run in range(times)]
