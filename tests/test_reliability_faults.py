"""Faults mid-refresh: the database going away, a locked SQLite file, SIGKILL, a full disk,
a seed file changing while it is read. After each, the next refresh completes and the
export equals a clean run's: nothing published is lost."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aggregator.refresh import RefreshResult, refresh_once
from aggregator.settings import from_env
from aggregator.store import Store
from tests import reliability
from tests.bigdigest import write_digest
from tests.conftest import SEED
from tests.netproxy import Proxy
from tests.processes import aggregator, env_for, wait_for_running

pytestmark = pytest.mark.reliability


def clean_export(seeds: Path, tmp_path: Path) -> list[dict[str, object]]:
    with Store.open(f"sqlite:///{tmp_path / 'clean.db'}") as clean:
        result = refresh_once(clean, from_env({"AGGREGATOR_SEEDS": str(seeds)}), on_problem=print)
        assert isinstance(result, RefreshResult)
        return list(clean.export_records())


def assert_recovered(
    store: Store,
    seeds: Path,
    tmp_path: Path,
    env: dict[str, str],
    note: str,
    *,
    corrected: int = 0,
) -> None:
    """The next refresh completes and the export equals a clean run's.

    ``corrected`` items were changed by a later digest during the test: only their
    ``updated`` time may differ from a clean run's (that is the point of ``updated``).
    """
    proc = aggregator("refresh", env=env, cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    expected = clean_export(seeds, tmp_path)
    got = list(store.export_records())
    lost = len(
        {(r["agency"], r["news_id"], r["lang"]) for r in expected}
        - {(r["agency"], r["news_id"], r["lang"]) for r in got}
    )
    reliability.count("faults", 1, lost, note)
    moved = [g for g, e in zip(got, expected, strict=True) if g["updated"] != e["updated"]]
    assert len(moved) == corrected
    strip = [{k: v for k, v in r.items() if k != "updated"} for r in got]
    assert strip == [{k: v for k, v in r.items() if k != "updated"} for r in expected]


def test_sqlite_file_locked_during_refresh(tmp_path: Path, seed_dir: Path) -> None:
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}?timeout=1"
    with Store.open(url) as store:
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        proc = aggregator("refresh", env=env_for(url, seed_dir), cwd=tmp_path)
        out, err = proc.communicate(timeout=120)
        holder.execute("ROLLBACK")
        holder.close()
        assert proc.returncode == 1, out + err
        assert err.startswith("Error: database")
        assert "locked" in err
        assert "Traceback" not in err
        assert_recovered(store, seed_dir, tmp_path, env_for(url, seed_dir), "SQLite file locked")


def test_postgresql_disappears_mid_refresh(
    proxied_pg: tuple[str, Proxy], pg_url: str, tmp_path: Path
) -> None:
    url, proxy = proxied_pg
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_digest(seeds / "big.txt", 15_000)
    (seeds / "seed.txt").write_bytes(SEED.read_bytes())
    with Store.open(pg_url) as direct:
        proc = aggregator("refresh", env=env_for(url, seeds), cwd=tmp_path)
        wait_for_running(direct)
        time.sleep(0.5)
        proxy.cut()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out + err
        assert err.splitlines()[-1].startswith("Error: database")
        assert "Traceback" not in err
        proxy.restore()
        assert_recovered(
            direct, seeds, tmp_path, env_for(url, seeds), "PostgreSQL gone mid-refresh"
        )


@contextlib.contextmanager
def tiny_disk(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to simulate a full disk: {mounted.stderr!r}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_full_disk_on_the_static_build(tmp_path: Path, seed_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with tiny_disk(tmp_path / "disk", "4m") as disk, Store.open(url) as store:
        static = disk / "feeds"
        env = env_for(url, seed_dir, AGGREGATOR_STATIC_DIR=str(static))
        first = aggregator("refresh", env=env, cwd=tmp_path)
        first.communicate(timeout=120)
        assert first.returncode == 0
        before = {p: p.read_bytes() for p in static.rglob("*") if p.is_file()}
        # A corrected item changes some feeds; the disk is (almost) full for the rebuild.
        (seed_dir / "zz.txt").write_text(
            "Dear nature users! 14.02.2025\nCorrected.\n"
            "Source : https://www.gov.kz/memleket/entities/ecogeo/press/news/details/963904\n",
            "utf-8",
        )
        ballast = disk / "ballast"
        with contextlib.suppress(OSError), ballast.open("wb") as handle:
            while True:
                handle.write(b"\0" * 65536)
        proc = aggregator("refresh", env=env, cwd=tmp_path)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out + err
        assert "No space left" in err
        assert {p: p.read_bytes() for p in static.rglob("*") if p.is_file()} == before
        assert not [p for p in disk.iterdir() if p.name.startswith(".feeds.build-")]
        ballast.unlink()
        assert_recovered(store, seed_dir, tmp_path, env, "full disk during build", corrected=1)
        assert b"Corrected." in (static / "ecogeo.atom").read_bytes()


def test_seed_file_changes_while_read(make_store: Callable[[str], Store], tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    digest = write_digest(seeds / "big.txt", 15_000)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = make_store(url)
    env = env_for(url, seeds)
    proc = aggregator("refresh", env=env, cwd=tmp_path)
    wait_for_running(store)
    with digest.open("a", encoding="utf-8") as more:
        for n in range(100):
            url = f"https://www.gov.kz/memleket/entities/late/press/news/details/{9_000_000 + n}"
            more.write(f"Appended item {n} 01.03.2025\nLate text.\nSource : {url}\n\n")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert_recovered(store, seeds, tmp_path, env, "seed file appended while read")
    assert store.count_items() == 15_100
