"""Running `aggregator` commands as real processes, the way cron and operators do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from aggregator.store import Store


def env_for(url: str, seeds: Path, **extra: str) -> dict[str, str]:
    """This environment without any AGGREGATOR_* of the caller's, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update({"AGGREGATOR_DATABASE_URL": url, "AGGREGATOR_SEEDS": str(seeds), **extra})
    return env


def aggregator(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_running(store: Store, timeout: float = 60.0) -> None:
    """Until a refresh run is recorded as running (it holds the lock by then)."""
    deadline = time.monotonic() + timeout
    while store.running_run() is None:
        assert time.monotonic() < deadline, "no refresh started"
        time.sleep(0.02)
