"""Ingest: seed files into the store, one transaction per file, streamed.

Orchestration only: the grammar is :mod:`aggregator.digest`, the writes are the store's.
Each file is read once, in binary, through a hashing reader, so the content hash saved
with the file's state is exactly that of the bytes that were parsed, even if the file
changes while it is read.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aggregator import digest
from aggregator.errors import Problem
from aggregator.model import Item
from aggregator.store import FileState, Store, WriteCounts

log = logging.getLogger(__name__)

_BATCH = 1000
_SAMPLE = 64 * 1024
_BUFFER = 1 << 20

ProblemSink = Callable[[Problem], None]
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class SeedFile:
    """A file to ingest: ``key`` is its path relative to the folder named on the command line
    (or its name), which orders occurrences and is stored as ``source_file``."""

    key: str
    path: Path


@dataclass(slots=True)
class IngestReport:
    files: int = 0
    skipped: int = 0
    rejected: int = 0
    counts: WriteCounts = field(default_factory=WriteCounts)
    problems_by_code: dict[str, int] = field(default_factory=dict)

    def record(self, problem: Problem) -> None:
        self.rejected += 1
        self.problems_by_code[problem.code] = self.problems_by_code.get(problem.code, 0) + 1

    def summary(self) -> str:
        c = self.counts
        text = (
            f"files={self.files} new={c.new} updated={c.updated} "
            f"unchanged={c.unchanged} rejected={self.rejected}"
        )
        if self.skipped:
            text += f" skipped={self.skipped}"
        return text

    def as_details(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "problems": dict(sorted(self.problems_by_code.items()))}


def find_seed_files(paths: Sequence[Path]) -> list[SeedFile]:
    """Files named directly, and every ``*.txt`` under folders, in the order that decides
    which occurrence of an item wins (sorted by key)."""
    found: dict[str, SeedFile] = {}
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*.txt")):
                if child.is_file() and not any(part.startswith(".") for part in child.parts):
                    key = child.relative_to(path).as_posix()
                    found[key] = SeedFile(key, child)
        else:
            found[path.name] = SeedFile(path.name, path)
    return [found[key] for key in sorted(found)]


class _HashingReader(io.RawIOBase):
    """Feeds every byte read through a hash, so the hash is of what was parsed."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.hash = hashlib.sha256()
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.hash.update(data)
        self.position += size
        return size


def file_hash(path: Path) -> str:
    digest_ = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_BUFFER):
            digest_.update(chunk)
    return digest_.hexdigest()


def _choose_encoding(path: Path) -> tuple[str, str]:
    """(encoding, errors) for the whole file; reads it whole only when the sample misleads."""
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE)
        complete = len(sample) < _SAMPLE
    return digest.sniff_encoding(sample, complete=complete), "strict"


def _fallback_encoding(path: Path) -> tuple[str, str, Problem | None]:
    """The file is not valid UTF-8 past its first bytes: decide on the whole of it."""
    data = path.read_bytes()
    try:
        return digest.sniff_encoding(data, complete=True), "strict", None
    except digest.UndecodableFile:
        text = data.decode("utf-8", "replace")
        bad = text.count("\ufffd")
        if bad * 1000 > len(text) or digest.is_mojibake(text):
            raise
        problem = Problem(
            str(path), 1, "invalid-utf8", f"{bad} invalid UTF-8 sequence(s) replaced by U+FFFD"
        )
        return "utf-8-sig", "replace", problem


class Ingester:
    """Reads seed files into a store. Collaborators (store, clock, sinks) are passed in."""

    def __init__(
        self,
        store: Store,
        *,
        on_problem: ProblemSink,
        clock: Callable[[], float] = time.time,
        progress: Callable[[int, int], Progress] | None = None,
    ) -> None:
        self.store = store
        self.on_problem = on_problem
        self.clock = clock
        self.progress = progress

    def run(
        self,
        files: Sequence[SeedFile],
        *,
        run_id: int,
        skip_unchanged: bool = False,
        report: IngestReport | None = None,
    ) -> IngestReport:
        report = report if report is not None else IngestReport()
        known = self.store.file_states() if skip_unchanged else {}
        total = sum(_size(seed.path) for seed in files)
        advance = self.progress(total, len(files)) if self.progress is not None else None
        for seed in files:
            report.files += 1
            state_key = str(seed.path.resolve())
            try:
                stat = seed.path.stat()
            except OSError as error:
                self._reject(report, Problem(str(seed.path), 1, "unreadable", _os_reason(error)))
                continue
            previous = known.get(state_key)
            if previous is not None and _same_stat(previous, stat):
                report.skipped += 1
                if advance is not None:
                    advance(stat.st_size)
                continue
            # Touched but not changed (same size, same hash): no re-parse.
            if (
                previous is not None
                and previous.size == stat.st_size
                and file_hash(seed.path) == previous.sha256
            ):
                with self.store.transaction() as conn:
                    self.store.save_file_state(
                        conn,
                        FileState(state_key, stat.st_size, stat.st_mtime_ns, previous.sha256),
                        int(self.clock()),
                    )
                report.skipped += 1
                if advance is not None:
                    advance(stat.st_size)
                continue
            self._ingest_file(seed, state_key, stat, run_id, report, advance)
        return report

    def _ingest_file(
        self,
        seed: SeedFile,
        state_key: str,
        stat: os.stat_result,
        run_id: int,
        report: IngestReport,
        advance: Progress | None,
    ) -> None:
        shown = str(seed.path)
        try:
            encoding, errors = _choose_encoding(seed.path)
        except digest.UndecodableFile as error:
            self._reject(report, Problem(shown, 1, "not-text", str(error)))
            return
        except OSError as error:
            self._reject(report, Problem(shown, 1, "unreadable", _os_reason(error)))
            return
        attempt = 0
        while True:
            attempt += 1
            problems: list[Problem] = []
            try:
                counts = self._write_file(
                    seed, state_key, stat, run_id, encoding, errors, problems, advance
                )
            except UnicodeDecodeError:
                if attempt > 1:
                    raise
                try:
                    encoding, errors, warning = _fallback_encoding(seed.path)
                except digest.UndecodableFile as error:
                    self._reject(report, Problem(shown, 1, "not-text", str(error)))
                    return
                if warning is not None:
                    self._reject(report, warning)
                continue
            except OSError as error:
                self._reject(report, Problem(shown, 1, "unreadable", _os_reason(error)))
                return
            break
        for problem in problems:
            self._reject(report, problem)
        report.counts.add(counts)
        log.info(
            "ingested file=%s new=%d updated=%d unchanged=%d problems=%d",
            seed.key,
            counts.new,
            counts.updated,
            counts.unchanged,
            len(problems),
        )

    def _write_file(
        self,
        seed: SeedFile,
        state_key: str,
        stat: os.stat_result,
        run_id: int,
        encoding: str,
        errors: str,
        problems: list[Problem],
        advance: Progress | None,
    ) -> WriteCounts:
        counts = WriteCounts()
        now = int(self.clock())
        with seed.path.open("rb") as raw, self.store.transaction() as conn:
            hashing = _HashingReader(raw)
            buffered = io.BufferedReader(hashing, buffer_size=_BUFFER)
            text = io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline=None)
            batch: list[Item] = []
            reported = 0
            for record in digest.parse_lines(text, seed.key):
                if isinstance(record, Problem):
                    problems.append(_shown(record, seed.path))
                    continue
                batch.append(record)
                if len(batch) >= _BATCH:
                    counts.add(self.store.write_items(conn, batch, run_id=run_id, now=now))
                    batch.clear()
                    if advance is not None:
                        advance(hashing.position - reported)
                        reported = hashing.position
            if batch:
                counts.add(self.store.write_items(conn, batch, run_id=run_id, now=now))
            if advance is not None:
                advance(max(0, stat.st_size - reported))
            state = FileState(state_key, stat.st_size, stat.st_mtime_ns, hashing.hash.hexdigest())
            self.store.save_file_state(conn, state, now)
        return counts

    def _reject(self, report: IngestReport, problem: Problem) -> None:
        report.record(problem)
        self.on_problem(problem)


def _shown(problem: Problem, path: Path) -> Problem:
    """Problems name the file as the operator typed it, not by its ordering key."""
    return Problem(str(path), problem.line, problem.code, problem.message)


def _same_stat(state: FileState, stat: os.stat_result) -> bool:
    return state.size == stat.st_size and state.mtime_ns == stat.st_mtime_ns


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _os_reason(error: OSError) -> str:
    return error.strerror or type(error).__name__
