"""Shared fixtures: the shipped seed, and a store on SQLite and (when configured) PostgreSQL.

PostgreSQL: set AGGREGATOR_TEST_POSTGRES_URL to a server URL (e.g.
postgresql://postgres@127.0.0.1:5432/postgres). The run creates its own database and drops
it at the end; without the variable those tests are skipped with a visible reason.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from aggregator.store import Store
from aggregator.store.core import normalise_url
from aggregator.store.schema import metadata
from tests.netproxy import Proxy

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_61d9ebafb9099430.txt"
DATA = Path(__file__).resolve().parent / "data"
PG_URL = os.environ.get("AGGREGATOR_TEST_POSTGRES_URL", "")
PG_SKIP = "AGGREGATOR_TEST_POSTGRES_URL is not set: PostgreSQL variant skipped"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    if not PG_URL:
        pytest.skip(PG_SKIP)
    server = normalise_url(PG_URL)
    name = f"aggregator_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated store URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_url")
    store = Store.open(url)
    with store.transaction() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name == "state":
                conn.execute(table.update().values(value=0))
            else:
                conn.execute(table.delete())
    store.close()
    return url


@pytest.fixture
def proxied_pg(pg_url: str) -> Iterator[tuple[str, Proxy]]:
    """The test database, emptied, reached through a TCP proxy the test can cut."""
    with Store.open(pg_url) as direct, direct.transaction() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name != "state":
                conn.execute(table.delete())
    server = make_url(pg_url)
    proxy = Proxy((server.host or "127.0.0.1", server.port or 5432))
    try:
        yield server.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
    finally:
        proxy.close()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    yield opened
    opened.close()


@pytest.fixture
def make_store() -> Iterator[Callable[[str], Store]]:
    """Opens stores on any URL and closes them all when the test ends."""
    opened: list[Store] = []

    def make(url: str) -> Store:
        store = Store.open(url)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    """A copy of the shipped seed folder that a test may change."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / SEED.name).write_bytes(SEED.read_bytes())
    return folder


REPORT_COMMAND = (
    "AGGREGATOR_RELIABILITY_REPORT=RELIABILITY.md python3 -m pytest --run-slow --no-cov -q "
    "tests/test_reliability_*.py tests/test_digest_properties.py tests/test_refresh_api.py "
    "tests/test_refresh.py"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow (or -m slow)")
    if "slow" in (config.getoption("-m") or ""):
        return
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("AGGREGATOR_RELIABILITY_REPORT")
    if target and exitstatus == 0:
        from tests import reliability

        reliability.write_report(Path(target), REPORT_COMMAND)
