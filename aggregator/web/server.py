"""Running the app under granian from Python (``aggregator serve``): the only module that
imports granian. Production uses the same server from the ``Procfile``'s command line."""

from __future__ import annotations

from granian import Granian
from granian.constants import Interfaces

#: The factory granian calls in each worker process.
APP_FACTORY = "aggregator.web:create_app"
#: Threads per worker running the app: cached answers are CPU-bound, so few threads fight
#: less over the GIL (measured here: 4 beat granian's default by a quarter).
BLOCKING_THREADS = 4


def serve_forever(*, host: str, port: int, workers: int) -> None:
    """Serves until SIGINT/SIGTERM; settings come from the environment in each worker."""
    Granian(
        APP_FACTORY,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=BLOCKING_THREADS,
        factory=True,
        websockets=False,
        log_access=False,
        respawn_failed_workers=True,
    ).serve()
