"""Numbers for RELIABILITY.md, counted by the tests that inject the faults.

The reliability tests call :func:`count`; at the end of a run the table is written to the
file named by ``AGGREGATOR_RELIABILITY_REPORT`` (see the README for the command).
"""

from __future__ import annotations

import platform
import threading
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

#: (area, what was tried, what went wrong) in the order of the table.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("fuzz", "fuzz inputs tried", "crashes found"),
    ("hostile-http", "hostile requests tried", "5xx or leaks seen"),
    ("hostile-content", "hostile items and pages tried", "live markup found"),
    ("faults", "faults injected", "items lost"),
    ("load", "requests served under load", "errors"),
    ("secrets", "places checked for the token", "leaks found"),
)

_lock = threading.Lock()
_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
_notes: dict[str, list[str]] = defaultdict(list)


def count(area: str, tried: int, bad: int = 0, note: str | None = None) -> None:
    with _lock:
        _counts[area][0] += tried
        _counts[area][1] += bad
        if note:
            _notes[area].append(note)


def table() -> str:
    lines = [
        "| area | tried | bad | what was tried | what counts as bad | notes |",
        "| --- | ---: | ---: | --- | --- | --- |",
    ]
    for area, tried_label, bad_label in ROWS:
        tried, bad = _counts.get(area, [0, 0])
        notes = "; ".join(sorted(set(_notes.get(area, []))))
        lines.append(f"| {area} | {tried} | {bad} | {tried_label} | {bad_label} | {notes} |")
    return "\n".join(lines)


def write_report(path: Path, command: str) -> None:
    machine = f"{platform.machine()}, Python {platform.python_version()}, {platform.system()}"
    text = (
        "# Reliability\n\n"
        "Filled in by the reliability tests, not by hand. Regenerate with:\n\n"
        f"```sh\n{command}\n```\n\n"
        f"Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}.\n\n"
        f"{table()}\n"
    )
    path.write_text(text, "utf-8")
