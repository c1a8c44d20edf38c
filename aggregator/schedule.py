"""The scheduler edge: APScheduler runs a job every interval, one instance at a time.

Only two entry points start a scheduler: ``aggregator schedule`` (its own process, the
Procfile's ``worker:``) and ``aggregator serve`` (single machine). The web app never does,
so N web workers never mean N schedulers.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from aggregator.errors import ConfigError

log = logging.getLogger(__name__)

ALMATY = ZoneInfo("Asia/Almaty")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smh]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_interval(text: str) -> BaseTrigger:
    """``900``, ``30s``, ``15m``, ``2h`` or a 5-field crontab line (Kazakhstan time)."""
    value = text.strip()
    match = _DURATION.match(value)
    if match is not None:
        seconds = float(match[1]) * _UNITS[match[2]]
        if seconds < 1:
            raise ConfigError("AGGREGATOR_REFRESH_INTERVAL", text, "must be at least 1 second")
        return IntervalTrigger(seconds=seconds, timezone=ALMATY)
    if len(value.split()) == 5:
        try:
            return CronTrigger.from_crontab(value, timezone=ALMATY)
        except ValueError as error:
            raise ConfigError("AGGREGATOR_REFRESH_INTERVAL", text, str(error)) from None
    raise ConfigError(
        "AGGREGATOR_REFRESH_INTERVAL", text, "expected seconds, 30s/15m/2h or a crontab line"
    )


def make_scheduler(
    job: Callable[[], object], interval: str, *, run_now: bool = True
) -> BackgroundScheduler:
    """A scheduler (not started) running ``job`` now (unless ``run_now`` is false, for a
    caller that has just run it) and then every interval.

    ``max_instances=1`` and ``coalesce`` mean a slow run is never overlapped and missed
    ticks collapse into one; the misfire grace time lets a run that was late by less than
    the interval still happen.
    """
    trigger = parse_interval(interval)
    grace = 60
    if isinstance(trigger, IntervalTrigger):
        grace = max(1, int(trigger.interval.total_seconds()))
    scheduler = BackgroundScheduler(timezone=ALMATY)
    scheduler.add_job(
        job,
        trigger=trigger,
        id="refresh",
        name="refresh",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=grace,
        **({"next_run_time": datetime.now(ALMATY) + timedelta(milliseconds=10)} if run_now else {}),
    )
    return scheduler


def run_until_signalled(scheduler: BackgroundScheduler) -> None:
    """Blocks until SIGTERM or SIGINT, then lets a running job finish and stops cleanly."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping signal=%s", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler.start()
    try:
        while not stop.wait(3600):
            pass
    finally:
        scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
