"""The static build: the whole tree, determinism, atomic replacement, exactly-changed files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aggregator.build import STAMP, build
from aggregator.store import Store
from tests.test_store import URL, ingest, item_text

BASE = "https://feeds.example.org/"
ATOM = "{http://www.w3.org/2005/Atom}"
FEEDCHECK = Path(__file__).resolve().parent.parent / "tools" / "feedcheck" / "feedcheck"


def tree(folder: Path) -> dict[str, bytes]:
    """The published files (not the build's stamp)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != STAMP
    }


def entries(path: Path) -> list[ET.Element]:
    return ET.parse(path).getroot().findall(f"{ATOM}entry")


@pytest.fixture
def built(store: Store, seed_dir: Path, tmp_path: Path) -> Path:
    ingest(store, seed_dir)
    out = tmp_path / "feeds"
    build(store, out, base_url=BASE, feed_size=50)
    return out


def test_tree_layout_and_counts(built: Path) -> None:
    files = tree(built)
    for agency in ("all", "ecogeo", "economy", "almaty"):
        for stem in (agency, f"{agency}/kk", f"{agency}/ru", f"{agency}/en"):
            for ext in ("atom", "rss", "json"):
                assert f"{stem}.{ext}" in files
    assert {"index.html", "feeds.opml", "icon.svg"} <= set(files)
    assert len(entries(built / "economy" / "ru.atom")) == 2
    assert len(entries(built / "all" / "en.atom")) == 18
    assert len(entries(built / "ecogeo.atom")) == 9
    assert len(entries(built / "economy" / "kk.atom")) == 0  # empty but valid
    assert len(json.loads(files["all/en.json"])["items"]) == 18
    self_link = ET.parse(built / "ecogeo" / "en.atom").getroot().find(f"{ATOM}link[@rel='self']")
    assert self_link is not None
    assert self_link.get("href") == BASE + "ecogeo/en.atom"


def test_rebuild_is_byte_identical_and_rewrites_nothing(store: Store, built: Path) -> None:
    before = tree(built)
    inodes = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in built.rglob("*") if p.is_file()}
    report = build(store, built, base_url=BASE, feed_size=50)
    assert report.skipped  # same store, same settings: not even rendered
    assert tree(built) == before
    assert {
        p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in built.rglob("*") if p.is_file()
    } == inodes


def test_corrected_item_changes_exactly_the_files_containing_it(
    store: Store, built: Path, tmp_path: Path
) -> None:
    before = tree(built)
    fix = tmp_path / "fix"
    fix.mkdir()
    # A later digest corrects one economy item (Russian).
    (fix / "zz.txt").write_text(
        "Туркестан получит особый статус: сенаторы одобрили закон 13.02.2025\n"
        "Исправленный текст.\n"
        "Источник : https://www.gov.kz/memleket/entities/economy/press/news/details/937506\n",
        "utf-8",
    )
    ingest(store, fix, clock=1_900_000_000.0)
    report = build(store, built, base_url=BASE, feed_size=50)
    after = tree(built)
    changed = {name for name in after if after[name] != before.get(name)}
    expected = {
        f"{stem}.{ext}"
        for stem in ("all", "all/ru", "economy", "economy/ru")
        for ext in ("atom", "rss", "json")
    }
    # index.html lists titles and dates only: a corrected body leaves it as it was.
    assert changed == expected
    assert report.written == len(expected)


def test_version_bump_without_visible_change_rewrites_nothing(store: Store, built: Path) -> None:
    before = {p: p.stat().st_ino for p in built.rglob("*") if p.is_file() and p.name != STAMP}
    with store.transaction() as conn:
        Store.bump_version(conn)
    report = build(store, built, base_url=BASE, feed_size=50)
    assert (report.skipped, report.written) == (False, 0)
    assert {
        p: p.stat().st_ino for p in built.rglob("*") if p.is_file() and p.name != STAMP
    } == before
    assert build(store, built, base_url=BASE, feed_size=50).skipped
    assert build(store, built, base_url=BASE + "x/", feed_size=50).written > 0


def test_files_not_made_by_the_build_survive(store: Store, built: Path) -> None:
    (built / "README.md").write_text("kept", "utf-8")
    ingest(store, Path(__file__).parent / "data" / "digest" / "date_lines.txt")
    build(store, built, base_url=BASE, feed_size=50)
    assert (built / "README.md").read_text("utf-8") == "kept"
    assert (built / "mod.atom").exists()


def test_feed_size_bounds_every_feed(store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "in"
    seeds.mkdir()
    (seeds / "a.txt").write_text("".join(item_text(f"N {n}", n) for n in range(1, 13)), "utf-8")
    ingest(store, seeds)
    out = tmp_path / "out"
    build(store, out, base_url=BASE, feed_size=5)
    assert len(entries(out / "all.atom")) == 5
    assert len(json.loads((out / "ecogeo.json").read_text("utf-8"))["items"]) == 5
    assert URL  # the helper module's template is shared


@pytest.mark.skipif(
    shutil.which("node") is None, reason="Node.js missing: feedcheck's reader parsers cannot run"
)
def test_every_built_feed_passes_feedcheck(seed_dir: Path, tmp_path: Path) -> None:
    built = tmp_path / "feeds"
    with Store.open(f"sqlite:///{tmp_path / 'check.db'}") as store:
        ingest(store, seed_dir)
        build(store, built, base_url=BASE, feed_size=50)
    feeds = sorted(p for p in built.rglob("*") if p.suffix in {".atom", ".rss"})
    assert len(feeds) == 32
    failures = []
    for path in feeds:
        result = subprocess.run(
            [str(FEEDCHECK), str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "FEEDCHECK_NO_APT": os.environ.get("FEEDCHECK_NO_APT", "0")},
        )
        if result.returncode != 0:
            failures.append(f"{path.relative_to(built)}:\n{result.stdout}{result.stderr}")
    assert failures == []
