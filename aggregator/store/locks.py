"""One refresh at a time, across processes and machines, and never a stale lock.

PostgreSQL: a session-level advisory lock held on a dedicated connection; the server
frees it when that connection ends, including when the process is killed. SQLite: an
exclusive ``flock`` on a file next to the database; the kernel frees it when the process
dies. Neither needs cleaning up after a crash.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from aggregator.errors import StoreError

# An arbitrary, fixed 64-bit key: "govkz-feeds refresh".
_ADVISORY_KEY = 7_428_002


class RefreshLock:
    """Non-blocking: :meth:`acquire` says whether this holder now owns the refresh."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._engine.dialect.name == "postgresql":
            return self._acquire_advisory()
        return self._acquire_file()

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_KEY}
                )
                self._conn.commit()
            except exc.SQLAlchemyError:
                pass  # closing the connection frees the lock anyway
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()

    def _acquire_advisory(self) -> bool:
        try:
            conn = self._engine.connect()
            got = bool(
                conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY}
                ).scalar_one()
            )
            conn.commit()
        except exc.SQLAlchemyError as error:
            raise StoreError(f"cannot take the refresh lock: {error.__class__.__name__}") from None
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _acquire_file(self) -> bool:
        fd = os.open(lock_path(self._engine), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True


def lock_path(engine: Engine) -> Path:
    database = engine.url.database or ""
    if not database or database == ":memory:":
        return Path(os.environ.get("TMPDIR", "/tmp")) / "aggregator-memory.refresh.lock"  # noqa: S108
    return Path(database).with_name(Path(database).name + ".refresh.lock")
