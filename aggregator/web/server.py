"""Running the app under granian for ``aggregator serve`` (single machine).

Granian runs as a child process in its own session, started with the same command line
as the ``Procfile``'s ``web:`` line; ``aggregator serve`` keeps the scheduler and forwards
SIGINT/SIGTERM to it as SIGTERM. Two reasons: a terminal's Ctrl-C reaches a whole process
group, and granian's master and its workers each receiving SIGINT at once can leave the
master waiting for a worker forever (seen here about one run in two); and the web workers
are then never forked from a process that has a scheduler thread and open database
connections.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

#: The factory granian calls in each worker process.
APP_FACTORY = "aggregator.web:create_app"
#: Threads per worker running the app: cached answers are CPU-bound, so few threads fight
#: less over the GIL (measured here: 4 beat granian's default by a quarter).
BLOCKING_THREADS = 4
_STOP_TIMEOUT = 30


def granian_command(*, host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(BLOCKING_THREADS),
        "--no-ws",
        "--respawn-failed-workers",
        APP_FACTORY,
    ]


def serve_forever(*, host: str, port: int, workers: int) -> int:
    """Serves until SIGINT/SIGTERM (or until granian exits); returns granian's exit code."""
    child = subprocess.Popen(
        granian_command(host=host, port=port, workers=workers), start_new_session=True
    )
    stopping = threading.Event()

    def forward(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    deadline: float | None = None
    try:
        while True:
            try:
                return child.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                if not stopping.is_set():
                    continue
                deadline = deadline or time.monotonic() + _STOP_TIMEOUT
                if time.monotonic() > deadline:
                    os.killpg(child.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
