"""Refresh: cron-safe, one at a time across processes, crash-safe, recorded."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aggregator.errors import ConfigError, Problem
from aggregator.refresh import Busy, RefreshResult, refresh_once, start
from aggregator.schedule import parse_interval
from aggregator.settings import from_env
from aggregator.store import Store
from tests import reliability
from tests.bigdigest import write_digest
from tests.conftest import SEED
from tests.processes import aggregator, env_for, wait_for_running


def test_refresh_skips_unchanged_and_records_runs(
    make_store: Callable[[str], Store], database_url: str, seed_dir: Path
) -> None:
    store = make_store(database_url)
    settings = from_env(
        {"AGGREGATOR_DATABASE_URL": database_url, "AGGREGATOR_SEEDS": str(seed_dir)}
    )
    problems: list[Problem] = []
    first = refresh_once(store, settings, on_problem=problems.append)
    assert isinstance(first, RefreshResult)
    assert (first.outcome, first.ingest.counts.new) == ("ok", 20)
    second = refresh_once(store, settings, on_problem=problems.append)
    assert isinstance(second, RefreshResult)
    assert (second.ingest.skipped, second.ingest.counts.new) == (1, 0)
    last = store.last_run(kind="refresh")
    assert last is not None
    assert (last.id, last.outcome, last.files) == (second.run_id, "ok", 1)
    assert store.count_runs("refresh") == 2
    assert problems == []


def test_refresh_rejections_exit_2_and_are_recorded(
    make_store: Callable[[str], Store], tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text(
        "Bad 31.02.2025\nSource : https://www.gov.kz/memleket/entities/a/press/news/details/1\n",
        "utf-8",
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    proc = aggregator("refresh", env=env_for(url, seeds), cwd=tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "a.txt:1: bad-date" in err
    run = make_store(url).last_run(kind="refresh")
    assert run is not None
    assert run.outcome == "rejected"
    assert run.details["problem_lines"][0].endswith("'31.02.2025' is not a date")


def test_lock_is_exclusive_and_busy_names_the_running_run(
    make_store: Callable[[str], Store], database_url: str, seed_dir: Path
) -> None:
    store = make_store(database_url)
    settings = from_env(
        {"AGGREGATOR_DATABASE_URL": database_url, "AGGREGATOR_SEEDS": str(seed_dir)}
    )
    holder = start(store)
    assert not isinstance(holder, Busy)
    other = make_store(database_url)
    busy = refresh_once(other, settings, on_problem=lambda p: None)
    assert busy == Busy(holder.run_id)
    holder.lock.release()
    assert isinstance(refresh_once(other, settings, on_problem=lambda p: None), RefreshResult)


def test_two_processes_together_exactly_one_works(
    make_store: Callable[[str], Store], database_url: str, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_digest(seeds / "big.txt", 15_000)
    make_store(database_url)  # migrate first, as a deployment would
    env = env_for(database_url, seeds)
    procs = [aggregator("refresh", env=env, cwd=tmp_path) for _ in range(2)]
    results = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    outs = sorted(out for out, _ in results)
    busy = [o for o in outs if "another refresh is already running" in o]
    worked = [o for o in outs if "new=15000" in o]
    assert (len(busy), len(worked)) == (1, 1), outs
    store = make_store(database_url)
    assert store.count_runs("refresh") == 1
    assert store.count_items() == 15_000


def test_sigkill_mid_ingest_then_refresh_equals_clean_run(
    make_store: Callable[[str], Store], database_url: str, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_digest(seeds / "big.txt", 40_000)
    (seeds / "seed.txt").write_bytes(SEED.read_bytes())
    store = make_store(database_url)
    env = env_for(database_url, seeds)
    victim = aggregator("refresh", env=env, cwd=tmp_path)
    wait_for_running(store)
    time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL  # killed mid-way, not finished
    partial = store.count_items()
    after = aggregator("refresh", env=env, cwd=tmp_path)
    out, err = after.communicate(timeout=300)
    assert after.returncode == 0, err
    assert "outcome=ok" in out
    last = store.last_run(kind="refresh")
    assert last is not None
    killed = store.run(last.id - 1)
    assert killed is not None
    assert killed.outcome == "abandoned"
    # A clean run into a fresh SQLite store gives the same export.
    clean = make_store(f"sqlite:///{tmp_path / 'clean.db'}")
    settings = from_env({"AGGREGATOR_SEEDS": str(seeds)})
    result = refresh_once(clean, settings, on_problem=lambda p: None)
    assert isinstance(result, RefreshResult)
    assert list(store.export_records()) == list(clean.export_records())
    assert partial <= store.count_items() == 40_020
    reliability.count("faults", 1, 40_020 - store.count_items(), "SIGKILL mid-refresh")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("900", True),
        ("30s", True),
        ("15m", True),
        ("2h", True),
        ("*/5 * * * *", True),
        ("0", False),
        ("soon", False),
        ("61 * * * *", False),
    ],
)
def test_interval_syntax(text: str, ok: bool) -> None:
    if ok:
        assert parse_interval(text) is not None
    else:
        with pytest.raises(ConfigError):
            parse_interval(text)


def test_schedule_process_runs_at_start_and_stops_on_sigterm(
    make_store: Callable[[str], Store], tmp_path: Path, seed_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    env = env_for(url, seed_dir, AGGREGATOR_REFRESH_INTERVAL="1s")
    proc = aggregator("schedule", env=env, cwd=tmp_path)
    time.sleep(3.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    ticks = out.count("refresh: run=")
    assert ticks >= 3
    assert out.rstrip().endswith("schedule: stopped")
    store = make_store(url)
    assert store.count_runs("refresh") == ticks
    assert store.running_run() is None
