"""What the benchmark ran on: CPU, cores, memory, OS and every program's version."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path


def _first(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text("utf-8").splitlines():
            name, _, value = line.partition(":" if ":" in line else "=")
            if name.strip() == key:
                return value.strip().strip('"')
    except OSError:
        return None
    return None


def _memory_gib() -> float | None:
    total = _first("/proc/meminfo", "MemTotal")
    if total is None:
        return None
    return round(int(total.split()[0]) / 1024 / 1024, 1)


def _package(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe(*, postgres: str | None, wrk: str | None, nginx: str | None) -> dict[str, object]:
    return {
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": _first("/etc/os-release", "PRETTY_NAME") or platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres,
        "wrk": wrk,
        "nginx": nginx,
        "gunicorn": _package("gunicorn"),
        "granian": _package("granian"),
        "flask": _package("flask"),
        "sqlalchemy": _package("sqlalchemy"),
    }


def one_line(machine: dict[str, object]) -> str:
    parts = [
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB",
        f"{machine['os']} (Linux {machine['kernel']})",
        f"Python {machine['python']}",
        f"SQLite {machine['sqlite']}",
        f"PostgreSQL {machine['postgresql'] or '—'}",
        f"{machine['wrk'] or 'no wrk'}",
        f"{machine['nginx'] or 'no nginx'}",
        f"gunicorn {machine['gunicorn']}",
        f"granian {machine['granian']}",
    ]
    return "; ".join(parts)


#: A share of the CPUs taken by other processes that makes figures unreliable.
BUSY_SHARE = 0.15


def _cpu_times() -> tuple[int, int] | None:
    """(total, idle) jiffies of all CPUs since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return sum(fields), fields[3] + fields[4]


def cpu_busy(seconds: float = 1.0) -> float | None:
    """The share of all CPUs busy over ``seconds`` (0-1): while the benchmark's own
    processes idle, this is what other processes take from the measurements."""
    first = _cpu_times()
    time.sleep(seconds)
    second = _cpu_times()
    if first is None or second is None or second[0] == first[0]:
        return None
    total = second[0] - first[0]
    return 1 - (second[1] - first[1]) / total


_TICKS = os.sysconf("SC_CLK_TCK")
_MIN_TICKS = _TICKS // 2 * (os.cpu_count() or 1)


def _task_ticks() -> int:
    """User + system CPU of this process and its reaped children, in clock ticks."""
    times = os.times()
    return round((times.user + times.system + times.children_user + times.children_system) * _TICKS)


def _group_ticks(groups: Sequence[int]) -> int:
    """User + system CPU of every live process in these process groups, in clock ticks."""
    wanted = set(groups)
    total = 0
    if not wanted:
        return 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text("ascii", "replace")
        except OSError:
            continue
        # The command name may hold spaces: the fields that matter follow its ")".
        fields = raw.rsplit(")", 1)[-1].split()
        if int(fields[2]) in wanted:
            total += int(fields[11]) + int(fields[12])
    return total


def _busy_ticks() -> tuple[int, int] | None:
    """(user + nice + system, all) ticks of every CPU; interrupt time is left out, since the
    kernel charges it to no process (loopback traffic makes plenty of it)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return fields[0] + fields[1] + fields[2], sum(fields)


class CpuWatch:
    """The share of the machine's CPUs that other processes used while the block ran:
    everything busy minus this process, its reaped children and the given process groups
    (the servers under test)."""

    def __init__(self, groups: Sequence[int] = ()) -> None:
        self.groups = tuple(groups)
        self.other_share: float | None = None
        self._start: tuple[tuple[int, int] | None, int, int] = (None, 0, 0)

    def __enter__(self) -> CpuWatch:
        self._start = (_busy_ticks(), _task_ticks(), _group_ticks(self.groups))
        return self

    def __exit__(self, *_exc: object) -> None:
        busy, own, groups = _busy_ticks(), _task_ticks(), _group_ticks(self.groups)
        first, own0, groups0 = self._start
        # Clock ticks are 10 ms: a block shorter than about half a second says nothing.
        if first is None or busy is None or busy[1] - first[1] < _MIN_TICKS:
            return
        other = (busy[0] - first[0]) - (own - own0) - (groups - groups0)
        self.other_share = max(0.0, other / (busy[1] - first[1]))
