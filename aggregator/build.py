"""The static build: every feed, the index page and the OPML written into one folder.

Atomic as a set: the new tree is assembled in a sibling folder, unchanged files hard-linked
from the current tree (so they keep their inode and modification time), changed files
written, and then the two folders are swapped with one ``renameat2(RENAME_EXCHANGE)`` call.
A reader of the folder sees the old set or the new set, never a mix or a half-written file.
When nothing changed, nothing is touched at all.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aggregator import __version__, render
from aggregator.model import FeedKey, FeedQuery
from aggregator.store import Store

log = logging.getLogger(__name__)

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
NEWEST_ON_INDEX = 20


#: Records what the tree in a folder was built from; an equal stamp means nothing to do.
STAMP = ".aggregator-build"


@dataclass(frozen=True, slots=True)
class BuildReport:
    files: int
    written: int
    unchanged: int
    skipped: bool = False

    def summary(self) -> str:
        if self.skipped:
            return "files=0 written=0 (store unchanged since the last build)"
        return f"files={self.files} written={self.written} unchanged={self.unchanged}"


def stamp(store: Store, *, base_url: str, feed_size: int) -> bytes:
    """The inputs of a build: the store's data version (read before rendering, so a change
    during the build only causes one more build), the settings and the renderer's version."""
    inputs = {
        "data_version": store.data_version(),
        "base_url": base_url,
        "feed_size": feed_size,
        "generator": __version__,
    }
    return (json.dumps(inputs, sort_keys=True) + "\n").encode()


def site_doc(store: Store, base_url: str) -> render.SiteDoc:
    counts = store.agency_counts()
    return render.SiteDoc(
        base_url=base_url,
        agencies=[render.AgencySummary(slug, counts[slug]) for slug in sorted(counts)],
        newest=store.feed_items(FeedQuery(FeedKey(), limit=NEWEST_ON_INDEX)),
    )


def outputs(store: Store, *, base_url: str, feed_size: int) -> Iterator[tuple[str, bytes]]:
    """Every (relative path, bytes) of the site; each feed's entries are queried once."""
    site = site_doc(store, base_url)
    for key in render.feed_keys(summary.slug for summary in site.agencies):
        doc = render.FeedDoc(
            key=key, items=store.feed_items(FeedQuery(key, limit=feed_size)), base_url=base_url
        )
        for extension, fmt in render.FORMATS.items():
            yield f"{key.path_stem}.{extension}", fmt.render(doc)
    yield render.INDEX_PATH, render.render_index(site)
    yield render.OPML_PATH, render.render_opml(site)
    yield render.ICON_PATH, render.ICON_SVG


def build(store: Store, out: Path, *, base_url: str, feed_size: int) -> BuildReport:
    """Builds the site into ``out``; with an unchanged store (same stamp) does nothing."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.mkdir(exist_ok=True)
    inputs = stamp(store, base_url=base_url, feed_size=feed_size)
    try:
        if (out / STAMP).read_bytes() == inputs:
            return BuildReport(0, 0, 0, skipped=True)
    except OSError:
        pass
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    try:
        files = written = 0
        produced: set[str] = set()
        for relative, data in outputs(store, base_url=base_url, feed_size=feed_size):
            files += 1
            produced.add(relative)
            if not _place(out / relative, staging / relative, data):
                written += 1
        if written == 0:
            _replace_file(out / STAMP, inputs)
            return BuildReport(files, 0, files)
        (staging / STAMP).write_bytes(inputs)
        produced.add(STAMP)
        _carry_over(out, staging, produced)
        _swap(staging, out)
        return BuildReport(files, written, files - written)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _place(current: Path, target: Path, data: bytes) -> bool:
    """Hard-links an identical current file into the new tree, else writes it; True if same."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if current.stat().st_size == len(data) and current.read_bytes() == data:
            os.link(current, target)
            return True
    except OSError:
        pass
    with target.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return False


def _replace_file(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _carry_over(out: Path, staging: Path, produced: set[str]) -> None:
    """Files of the old tree the build does not make (a README, old feeds) stay."""
    for path in out.rglob("*"):
        if path.is_file() and not path.is_symlink():
            relative = path.relative_to(out).as_posix()
            if relative not in produced:
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)


def _swap(staging: Path, out: Path) -> None:
    """Exchanges the two folders atomically (Linux); elsewhere replaces file by file."""
    libc_name = ctypes.util.find_library("c")
    renameat2 = (
        getattr(ctypes.CDLL(libc_name, use_errno=True), "renameat2", None) if libc_name else None
    )
    if renameat2 is not None:
        result = renameat2(
            _AT_FDCWD, os.fsencode(staging), _AT_FDCWD, os.fsencode(out), _RENAME_EXCHANGE
        )
        if result == 0:
            return
        log.warning("renameat2 failed errno=%d; replacing files one by one", ctypes.get_errno())
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            target = out / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
