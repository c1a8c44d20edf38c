"""A cold ingest in a process of its own, so its peak RSS is its own.

``python -m benchmarks.child URL DIGEST [--noop]`` ingests DIGEST into the store at URL the
way ``aggregator ingest`` does (one run, recorded) and prints one JSON line: the seconds the
ingest took inside the process and the write counts. ``--noop`` opens the store and stops
there: the RSS of the interpreter, the imports and the store without any ingest. Both
report the process's own peak RSS (``VmHWM``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from aggregator.errors import Problem
from aggregator.ingest import Ingester, find_seed_files
from aggregator.store import Store


def peak_rss_kib() -> int:
    """This process's own peak RSS: VmHWM of its memory map.

    Not ``ru_maxrss``: Linux carries the pre-exec RSS peak into it, and a child spawned with
    vfork (as :mod:`subprocess` does) would report the parent's peak instead of its own.
    """
    for line in Path("/proc/self/status").read_text("ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child")
    parser.add_argument("url")
    parser.add_argument("digest", type=Path)
    parser.add_argument("--noop", action="store_true")
    args = parser.parse_args(argv)
    store = Store.open(args.url)
    result: dict[str, object] = {"seconds": 0.0}
    if not args.noop:
        problems: list[Problem] = []
        started = time.perf_counter()
        run_id = store.begin_run("ingest", int(time.time()))
        report = Ingester(store, on_problem=problems.append).run(
            find_seed_files([args.digest]), run_id=run_id
        )
        store.finish_run(
            run_id,
            outcome="rejected" if report.rejected else "ok",
            now=int(time.time()),
            duration_ms=int((time.perf_counter() - started) * 1000),
            files=report.files,
            counts=report.counts,
            rejected=report.rejected,
        )
        result = {
            "seconds": time.perf_counter() - started,
            "new": report.counts.new,
            "updated": report.counts.updated,
            "unchanged": report.counts.unchanged,
            "rejected": report.rejected,
            "problems": [str(problem) for problem in problems[:5]],
        }
    store.close()
    result["peak_rss_kib"] = peak_rss_kib()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
