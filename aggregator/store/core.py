"""SQLAlchemy Core implementation of the store, the same code on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine, make_url

from aggregator.errors import StoreError
from aggregator.model import (
    ALL,
    LANGS,
    Enrichment,
    FeedQuery,
    Item,
    Lang,
    Translation,
)
from aggregator.store import schema
from aggregator.store.locks import RefreshLock
from aggregator.store.schema import enrichments, items, runs, seed_files, state, translations
from aggregator.urls import SourceRef

log = logging.getLogger(__name__)

ALMATY = ZoneInfo("Asia/Almaty")
_BATCH = 1000


def to_epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, ALMATY)


def content_hash(item: Item) -> str:
    """What a reader sees of an item; a change here moves ``updated``.

    Stored with every row: changing this function would make every item look changed on
    the next ingest, so it needs a migration that recomputes the column.
    """
    fields = (item.title, item.link, item.text, item.category or "", item.lang)
    joined = "\x1f".join(fields) + f"\x1f{to_epoch(item.published)}"
    return hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _news_num(news_id: str) -> int:
    return int(news_id) if news_id.isdigit() and len(news_id) < 18 else 0


def normalise_url(raw: str) -> URL:
    """Accepts ``postgres://`` and ``postgresql://`` and picks psycopg 3 for them."""
    url = make_url(raw)
    if url.drivername in {"postgres", "postgresql"}:
        url = url.set(drivername="postgresql+psycopg")
    return url


def display_url(raw: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return normalise_url(raw).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<invalid database URL>"


@dataclass(frozen=True, slots=True)
class FileState:
    path: str
    size: int
    mtime_ns: int
    sha256: str


@dataclass(slots=True)
class WriteCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: WriteCounts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    kind: str
    started: datetime
    finished: datetime | None
    duration_ms: int | None
    outcome: str
    files: int
    new: int
    updated: int
    unchanged: int
    rejected: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EnrichmentRow:
    """An item due for enrichment, with what the last fetch left for a conditional request."""

    item_id: int
    agency: str
    news_id: str
    lang: Lang
    title: str
    text: str
    status: str | None
    failures: int
    etag: str | None
    last_modified: str | None
    body_html: str | None
    published: datetime


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    dbapi_connection.create_function("casefold", 1, _casefold, deterministic=True)


def _on_sqlite_begin(conn: Connection) -> None:
    """Writers take the write lock at BEGIN, so two writers queue instead of deadlocking."""
    if conn.get_execution_options().get("sqlite_immediate"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _casefold(value: str | None) -> str | None:
    return value.casefold() if value is not None else None


class Store:
    """One database. Thread-safe: every method takes its own connection from the pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    # --- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, raw_url: str, *, migrate: bool = True) -> Store:
        """Connects, creating the SQLite file's folder and migrating the schema to head."""
        try:
            url = normalise_url(raw_url)
        except exc.ArgumentError as error:
            raise StoreError(f"invalid database URL {raw_url!r}: {error}") from None
        kwargs: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            database = url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # The driver's own transaction handling is off; the "begin" hook below emits BEGIN.
            # How long a writer waits for another's lock; ``?timeout=`` in the URL changes it.
            timeout = float(url.query.get("timeout", 30))  # type: ignore[arg-type]
            url = url.difference_update_query(["timeout"])
            kwargs["connect_args"] = {
                "timeout": timeout,
                "check_same_thread": False,
                "isolation_level": None,
            }
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["connect_args"] = {"connect_timeout": 10}
        try:
            engine = sa.create_engine(url, **kwargs)
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
            raise StoreError(f"cannot use database {display_url(raw_url)}: {error}") from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _on_sqlite_connect)
            event.listen(engine, "begin", _on_sqlite_begin)
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except exc.SQLAlchemyError as error:
            raise StoreError(_describe(error, self.engine)) from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic unit: on SQLite a write lock is taken at once (BEGIN IMMEDIATE)."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(sqlite_immediate=True)
                with conn.begin():
                    yield conn
        except exc.SQLAlchemyError as error:
            raise StoreError(_describe(error, self.engine)) from None

    def migrate(self) -> None:
        """Brings the schema to the newest revision (Alembic), once, under a lock."""
        from alembic.runtime.migration import MigrationContext

        with self._connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current == _head_revision():
            return
        from alembic import command
        from alembic.config import Config

        with self._connect() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_lock(7428001)")
            try:
                config = Config()
                config.set_main_option("script_location", "aggregator.store:migrations")
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
            finally:
                if self.dialect == "postgresql":
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(7428001)")
                    conn.commit()

    def refresh_lock(self) -> RefreshLock:
        """A new, not yet acquired, cross-process refresh lock on this database."""
        return RefreshLock(self.engine)

    def running_run(self, kind: str = "refresh") -> RunRecord | None:
        """The newest run still marked running (the one a 409 points at)."""
        query = (
            sa.select(runs)
            .where(runs.c.kind == kind, runs.c.outcome == "running")
            .order_by(runs.c.id.desc())
            .limit(1)
        )
        with self._connect() as conn:
            row = conn.execute(query).first()
        return _run_record(row) if row is not None else None

    def ping(self) -> bool:
        try:
            with self._connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except StoreError:
            return False

    # --- versions and counts -------------------------------------------------------------

    def data_version(self) -> int:
        """A counter bumped by every transaction that changes what a feed shows."""
        with self._connect() as conn:
            value = conn.execute(
                sa.select(state.c.value).where(state.c.key == "data_version")
            ).scalar_one()
        return int(value)

    def get_state(self, key: str) -> int | None:
        with self._connect() as conn:
            value = conn.execute(sa.select(state.c.value).where(state.c.key == key)).scalar()
        return int(value) if value is not None else None

    def set_state(self, key: str, value: int) -> None:
        """A small named integer (e.g. "the content API is gated until <epoch>")."""
        with self.transaction() as conn:
            changed = conn.execute(state.update().where(state.c.key == key).values(value=value))
            if not changed.rowcount:
                conn.execute(state.insert().values(key=key, value=value))

    @staticmethod
    def bump_version(conn: Connection) -> None:
        conn.execute(
            state.update().where(state.c.key == "data_version").values(value=state.c.value + 1)
        )

    def count_items(self) -> int:
        with self._connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(items)).scalar_one())

    def agency_counts(self) -> dict[str, dict[Lang, int]]:
        """Every agency in the store with its number of items per language."""
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(items.c.agency, items.c.lang, sa.func.count())
                .group_by(items.c.agency, items.c.lang)
                .order_by(items.c.agency, items.c.lang)
            ).all()
        found: dict[str, dict[Lang, int]] = {}
        for agency, lang, count in rows:
            found.setdefault(agency, {})[cast(Lang, lang)] = int(count)
        return found

    # --- seed files --------------------------------------------------------------------

    def file_state(self, path: str) -> FileState | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(seed_files).where(seed_files.c.path == path)).first()
        if row is None:
            return None
        return FileState(row.path, row.size, row.mtime_ns, row.sha256)

    def file_states(self) -> dict[str, FileState]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(seed_files)).all()
        return {row.path: FileState(row.path, row.size, row.mtime_ns, row.sha256) for row in rows}

    @staticmethod
    def save_file_state(conn: Connection, file: FileState, now: int) -> None:
        values = {
            "size": file.size,
            "mtime_ns": file.mtime_ns,
            "sha256": file.sha256,
            "ingested_at": now,
        }
        updated = conn.execute(
            seed_files.update().where(seed_files.c.path == file.path).values(**values)
        )
        if updated.rowcount == 0:
            conn.execute(seed_files.insert().values(path=file.path, **values))

    # --- writing items -----------------------------------------------------------------

    def write_items(
        self, conn: Connection, batch: Sequence[Item], *, run_id: int, now: int
    ) -> WriteCounts:
        """Inserts new items and updates changed ones; the later occurrence wins.

        An occurrence wins when its (source file, line) is greater than or equal to the
        stored one's, so ingesting files again, in any order or subset, changes nothing.
        ``updated`` moves to ``now`` only for a real change seen by a later run; an item
        first stored by this same run keeps ``updated == published``, so a clean run is
        reproducible.
        """
        counts = WriteCounts()
        latest: dict[tuple[str, str, str], Item] = {}
        for item in batch:
            key = item.key
            seen = latest.get(key)
            if seen is None or (item.source_file, item.source_line) >= (
                seen.source_file,
                seen.source_line,
            ):
                if seen is not None:
                    counts.unchanged += 1
                latest[key] = item
            else:
                counts.unchanged += 1
        if not latest:
            return counts
        existing = self._existing(conn, list(latest))
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        moves: list[dict[str, Any]] = []
        for key, item in latest.items():
            digest = content_hash(item)
            row = existing.get(key)
            if row is None:
                inserts.append(_insert_values(item, digest, run_id))
                counts.new += 1
                continue
            position = (item.source_file, item.source_line)
            if position < (row.source_file, row.source_line):
                counts.unchanged += 1
                continue
            if row.content_hash == digest:
                if position != (row.source_file, row.source_line):
                    moves.append(
                        {"_id": row.id, "_file": item.source_file, "_line": item.source_line}
                    )
                counts.unchanged += 1
                continue
            same_run = row.created_run == run_id
            updated = to_epoch(item.published) if same_run else max(now, row.updated)
            values = _insert_values(item, digest, run_id)
            values.pop("created_run")
            values.pop("sort_time")
            values["updated"] = updated
            values["_id"] = row.id
            updates.append(values)
            if not same_run:
                counts.updated += 1
        if inserts:
            conn.execute(items.insert(), inserts)
        if updates:
            conn.execute(
                items.update()
                .where(items.c.id == sa.bindparam("_id"))
                .values(
                    {name: sa.bindparam(name) for name in updates[0] if name != "_id"}
                    | {
                        "sort_time": sa.func.coalesce(
                            items.c.exact_published, sa.bindparam("published")
                        )
                    }
                ),
                updates,
            )
        if moves:
            conn.execute(
                items.update()
                .where(items.c.id == sa.bindparam("_id"))
                .values(source_file=sa.bindparam("_file"), source_line=sa.bindparam("_line")),
                moves,
            )
        if inserts or updates or moves:
            self.bump_version(conn)
        return counts

    def _existing(self, conn: Connection, keys: list[tuple[str, str, str]]) -> dict[Any, Any]:
        """Stored rows for these identities, looked up through the news_id-first index."""
        wanted = set(keys)
        found: dict[tuple[str, str, str], Any] = {}
        columns = (
            items.c.id,
            items.c.agency,
            items.c.news_id,
            items.c.lang,
            items.c.content_hash,
            items.c.source_file,
            items.c.source_line,
            items.c.created_run,
            items.c.updated,
        )
        news_ids = sorted({news_id for _, news_id, _ in keys})
        for start in range(0, len(news_ids), 500):
            chunk = news_ids[start : start + 500]
            rows = conn.execute(sa.select(*columns).where(items.c.news_id.in_(chunk))).all()
            for row in rows:
                key = (row.agency, row.news_id, row.lang)
                if key in wanted:
                    found[key] = row
        return found

    # --- runs ----------------------------------------------------------------------------

    def begin_run(self, kind: str, now: int) -> int:
        with self.transaction() as conn:
            result = conn.execute(
                runs.insert().values(
                    kind=kind,
                    started=now,
                    outcome="running",
                    files=0,
                    new=0,
                    updated=0,
                    unchanged=0,
                    rejected=0,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_run(
        self,
        run_id: int,
        *,
        outcome: str,
        now: int,
        duration_ms: int,
        files: int = 0,
        counts: WriteCounts | None = None,
        rejected: int = 0,
        details: dict[str, Any] | None = None,
    ) -> None:
        counts = counts or WriteCounts()
        with self.transaction() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(
                    finished=now,
                    duration_ms=duration_ms,
                    outcome=outcome,
                    files=files,
                    new=counts.new,
                    updated=counts.updated,
                    unchanged=counts.unchanged,
                    rejected=rejected,
                    details=json.dumps(details or {}, ensure_ascii=False, sort_keys=True),
                )
            )

    def run(self, run_id: int) -> RunRecord | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        return _run_record(row) if row is not None else None

    def last_run(self, *, kind: str | None = None, finished: bool = True) -> RunRecord | None:
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(1)
        if kind is not None:
            query = query.where(runs.c.kind == kind)
        if finished:
            query = query.where(runs.c.outcome != "running")
        with self._connect() as conn:
            row = conn.execute(query).first()
        return _run_record(row) if row is not None else None

    def last_success(self, kind: str = "refresh") -> RunRecord | None:
        query = (
            sa.select(runs)
            .where(runs.c.kind == kind, runs.c.outcome.in_(("ok", "rejected")))
            .order_by(runs.c.id.desc())
            .limit(1)
        )
        with self._connect() as conn:
            row = conn.execute(query).first()
        return _run_record(row) if row is not None else None

    def count_runs(self, kind: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(runs)
        if kind is not None:
            query = query.where(runs.c.kind == kind)
        with self._connect() as conn:
            return int(conn.execute(query).scalar_one())

    def abandon_stale_runs(self, kind: str, now: int) -> int:
        """Marks runs left 'running' by a killed process; call while holding the refresh lock."""
        with self.transaction() as conn:
            result = conn.execute(
                runs.update()
                .where(runs.c.kind == kind, runs.c.outcome == "running")
                .values(outcome="abandoned", finished=now)
            )
            return int(result.rowcount or 0)

    # --- reading feeds -------------------------------------------------------------------

    def feed_items(self, query: FeedQuery) -> list[Item]:
        """The entries of one feed, newest first, with their translations attached."""
        select = _item_select()
        key = query.key
        if key.scope != ALL:
            select = select.where(items.c.agency == key.scope)
        if key.lang is not None:
            select = select.where(items.c.lang == key.lang)
        if query.before is not None:
            cutoff = to_epoch(query.before)
            if query.skip is None:
                select = select.where(items.c.sort_time < cutoff)
            else:
                select = select.where(items.c.sort_time <= cutoff)
        if query.q:
            select = select.where(self._matches(query.q))
        select = select.order_by(*_ORDER).limit(query.limit)
        if query.before is not None and query.skip:
            select = select.offset(query.skip)
        with self._connect() as conn:
            rows = conn.execute(select).all()
            siblings = self._translations(conn, rows)
        return [_row_item(row, siblings) for row in rows]

    def _matches(self, q: str) -> sa.ColumnElement[bool]:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if self.dialect == "sqlite":
            folded = pattern.casefold()
            return sa.or_(
                sa.func.casefold(items.c.title).like(folded, escape="\\"),
                sa.func.casefold(items.c.text).like(folded, escape="\\"),
            )
        return sa.or_(
            items.c.title.ilike(pattern, escape="\\"), items.c.text.ilike(pattern, escape="\\")
        )

    def _translations(
        self, conn: Connection, rows: Sequence[Any]
    ) -> dict[tuple[str, str], dict[str, tuple[str, str]]]:
        """Titles and links of every language version of the given rows' news ids.

        Looked up by ``news_id IN (...)`` alone, which the news_id-first indexes answer
        (SQLite does not use an index for a row-value ``(agency, news_id) IN``), and then
        narrowed to the wanted (agency, news_id) pairs here.
        """
        wanted = {(row.agency, row.news_id) for row in rows}
        news_ids = sorted({news_id for _, news_id in wanted})
        found: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
        for start in range(0, len(news_ids), 500):
            chunk = news_ids[start : start + 500]
            known = conn.execute(
                sa.select(translations).where(translations.c.news_id.in_(chunk))
            ).all()
            for row in known:
                if (row.agency, row.news_id) in wanted:
                    link = SourceRef(row.agency, row.news_id).link(cast(Lang, row.lang))
                    versions = found.setdefault((row.agency, row.news_id), {})
                    versions[row.lang] = (row.title, link)
            stored = conn.execute(
                sa.select(
                    items.c.agency, items.c.news_id, items.c.lang, items.c.title, items.c.link
                ).where(items.c.news_id.in_(chunk))
            ).all()
            for row in stored:
                if (row.agency, row.news_id) in wanted:
                    versions = found.setdefault((row.agency, row.news_id), {})
                    versions[row.lang] = (row.title, row.link)
        return found

    def export_items(self) -> Iterator[Item]:
        """Every item, newest first, streamed (the backup format reads from here)."""
        select = _item_select().order_by(*_ORDER)
        with self._connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=500).execute(select)
            for partition in result.partitions():
                siblings = self._translations(conn, partition)
                for row in partition:
                    yield _row_item(row, siblings)

    def export_records(self) -> Iterator[dict[str, Any]]:
        """Items as JSON-ready dicts with the enrichment state (lossless backup)."""
        select = (
            sa.select(items, enrichments)
            .select_from(items.outerjoin(enrichments, enrichments.c.item_id == items.c.id))
            .order_by(*_ORDER)
        )
        with self._connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=500).execute(select)
            for row in result:
                yield _export_record(row)
            for row in conn.execute(sa.select(translations).order_by(*translations.c)):
                yield {
                    "kind": "translation",
                    "agency": row.agency,
                    "news_id": row.news_id,
                    "lang": row.lang,
                    "title": row.title,
                }

    def import_records(self, records: Iterable[dict[str, Any]], *, now: int) -> WriteCounts:
        """Restores an export: items as they were (times, positions, enrichment), upserted."""
        counts = WriteCounts()
        with self.transaction() as conn:
            for record in records:
                if record.get("kind") == "translation":
                    self._upsert_translation(
                        conn, record["agency"], record["news_id"], record["lang"], record["title"]
                    )
                    continue
                counts.add(self._import_item(conn, record))
            self.bump_version(conn)
        del now
        return counts

    def _import_item(self, conn: Connection, record: dict[str, Any]) -> WriteCounts:
        published = to_epoch(datetime.fromisoformat(record["published"]))
        updated = to_epoch(datetime.fromisoformat(record["updated"]))
        enrichment = record.get("enrichment") or {}
        exact = enrichment.get("published")
        exact_epoch = to_epoch(datetime.fromisoformat(exact)) if exact else None
        item = Item(
            agency=record["agency"],
            news_id=str(record["news_id"]),
            lang=record["lang"],
            title=record["title"],
            published=from_epoch(published),
            link=record["link"],
            text=record.get("text") or "",
            category=record.get("category"),
            source_file=record.get("source_file") or "",
            source_line=int(record.get("source_line") or 0),
        )
        values = _insert_values(item, content_hash(item), 0)
        values["updated"] = updated
        values["exact_published"] = exact_epoch
        values["sort_time"] = exact_epoch if exact_epoch is not None else published
        existing = conn.execute(
            sa.select(items.c.id).where(
                items.c.agency == item.agency,
                items.c.news_id == item.news_id,
                items.c.lang == item.lang,
            )
        ).first()
        if existing is None:
            item_id = conn.execute(items.insert().values(**values)).inserted_primary_key
            assert item_id is not None
            row_id = int(item_id[0])
            outcome = WriteCounts(new=1)
        else:
            row_id = int(existing.id)
            values.pop("created_run")
            conn.execute(items.update().where(items.c.id == row_id).values(**values))
            outcome = WriteCounts(updated=1)
        if enrichment.get("status"):
            conn.execute(enrichments.delete().where(enrichments.c.item_id == row_id))
            conn.execute(
                enrichments.insert().values(
                    item_id=row_id,
                    status=enrichment["status"],
                    reason=enrichment.get("reason"),
                    checked_at=int(enrichment.get("checked_at") or 0),
                    next_due=int(enrichment.get("next_due") or 0),
                    failures=int(enrichment.get("failures") or 0),
                    etag=enrichment.get("etag"),
                    last_modified=enrichment.get("last_modified"),
                    body_html=enrichment.get("body_html"),
                    image=enrichment.get("image"),
                )
            )
        return outcome

    # --- enrichment -----------------------------------------------------------------------

    def due_for_enrichment(self, now: int, limit: int) -> list[EnrichmentRow]:
        """Items never tried, or whose next check time has come, oldest due first."""
        query = (
            sa.select(
                items.c.id,
                items.c.agency,
                items.c.news_id,
                items.c.lang,
                items.c.title,
                items.c.text,
                items.c.published,
                enrichments.c.status,
                enrichments.c.failures,
                enrichments.c.etag,
                enrichments.c.last_modified,
                enrichments.c.body_html,
            )
            .select_from(items.outerjoin(enrichments, enrichments.c.item_id == items.c.id))
            .where(sa.or_(enrichments.c.item_id.is_(None), enrichments.c.next_due <= now))
            .order_by(sa.func.coalesce(enrichments.c.next_due, 0), items.c.sort_time.desc())
            .limit(limit)
        )
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return [
            EnrichmentRow(
                item_id=row.id,
                agency=row.agency,
                news_id=row.news_id,
                lang=row.lang,
                title=row.title,
                text=row.text,
                status=row.status,
                failures=int(row.failures or 0),
                etag=row.etag,
                last_modified=row.last_modified,
                body_html=row.body_html,
                published=from_epoch(row.published),
            )
            for row in rows
        ]

    def known_languages(self, agency: str, news_id: str) -> set[str]:
        """Languages of a news id that are stored as items or known as translations."""
        with self._connect() as conn:
            stored = conn.execute(
                sa.select(items.c.lang).where(items.c.agency == agency, items.c.news_id == news_id)
            ).scalars()
            found = set(stored)
            found.update(
                conn.execute(
                    sa.select(translations.c.lang).where(
                        translations.c.agency == agency, translations.c.news_id == news_id
                    )
                ).scalars()
            )
        return found

    def save_enrichment(
        self,
        item_id: int,
        *,
        status: str,
        reason: str | None,
        now: int,
        next_due: int,
        failures: int,
        etag: str | None = None,
        last_modified: str | None = None,
        body_html: str | None = None,
        image: str | None = None,
        exact_published: datetime | None = None,
        keep_content: bool = True,
    ) -> bool:
        """Records one fetch outcome; content only ever added or improved, never emptied.

        Returns whether anything a feed shows changed (then the data version moves).
        """
        with self.transaction() as conn:
            old = conn.execute(
                sa.select(enrichments).where(enrichments.c.item_id == item_id)
            ).first()
            values: dict[str, Any] = {
                "status": status,
                "reason": reason,
                "checked_at": now,
                "next_due": next_due,
                "failures": failures,
                "etag": etag if etag is not None else (old.etag if old is not None else None),
                "last_modified": last_modified
                if last_modified is not None
                else (old.last_modified if old is not None else None),
            }
            new_body = body_html or (old.body_html if old is not None and keep_content else None)
            new_image = image or (old.image if old is not None and keep_content else None)
            values["body_html"] = new_body
            values["image"] = new_image
            visible_change = old is None and (new_body or new_image)
            if old is not None:
                visible_change = (old.body_html, old.image) != (new_body, new_image)
                conn.execute(
                    enrichments.update().where(enrichments.c.item_id == item_id).values(**values)
                )
            else:
                conn.execute(enrichments.insert().values(item_id=item_id, **values))
            if exact_published is not None:
                exact = to_epoch(exact_published)
                changed = conn.execute(
                    items.update()
                    .where(
                        items.c.id == item_id,
                        sa.or_(items.c.exact_published.is_(None), items.c.exact_published != exact),
                    )
                    .values(exact_published=exact, sort_time=exact)
                )
                visible_change = visible_change or bool(changed.rowcount)
            if visible_change:
                self.bump_version(conn)
            return bool(visible_change)

    def save_translation(self, agency: str, news_id: str, lang: Lang, title: str) -> bool:
        with self.transaction() as conn:
            changed = self._upsert_translation(conn, agency, news_id, lang, title)
            if changed:
                self.bump_version(conn)
            return changed

    @staticmethod
    def _upsert_translation(
        conn: Connection, agency: str, news_id: str, lang: str, title: str
    ) -> bool:
        key = (
            (translations.c.agency == agency)
            & (translations.c.news_id == news_id)
            & (translations.c.lang == lang)
        )
        old = conn.execute(sa.select(translations.c.title).where(key)).scalar_one_or_none()
        if old == title:
            return False
        if old is None:
            conn.execute(
                translations.insert().values(agency=agency, news_id=news_id, lang=lang, title=title)
            )
        else:
            conn.execute(translations.update().where(key).values(title=title))
        return True

    def enrichment_counts(self) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(enrichments.c.status, sa.func.count()).group_by(enrichments.c.status)
            ).all()
        return {status: int(count) for status, count in rows}


_ORDER = (
    items.c.sort_time.desc(),
    items.c.news_num.desc(),
    items.c.agency.desc(),
    items.c.news_id.desc(),
    items.c.lang.desc(),
)


def _item_select() -> sa.Select[Any]:
    return sa.select(
        items.c.agency,
        items.c.news_id,
        items.c.lang,
        items.c.title,
        items.c.published,
        items.c.exact_published,
        items.c.updated,
        items.c.link,
        items.c.text,
        items.c.category,
        items.c.source_file,
        items.c.source_line,
        enrichments.c.body_html,
        enrichments.c.image,
    ).select_from(items.outerjoin(enrichments, enrichments.c.item_id == items.c.id))


def _row_item(row: Any, siblings: dict[tuple[str, str], dict[str, tuple[str, str]]]) -> Item:
    versions = siblings.get((row.agency, row.news_id), {})
    translated = tuple(
        Translation(lang=other, title=versions[other][0], link=versions[other][1])
        for other in LANGS
        if other != row.lang and other in versions
    )
    enrichment = None
    if row.body_html or row.image or row.exact_published is not None:
        enrichment = Enrichment(
            body_html=row.body_html,
            image=row.image,
            published=from_epoch(row.exact_published) if row.exact_published else None,
        )
    return Item(
        agency=row.agency,
        news_id=row.news_id,
        lang=cast(Lang, row.lang),
        title=row.title,
        published=from_epoch(row.published),
        link=row.link,
        text=row.text,
        category=row.category,
        source_file=row.source_file,
        source_line=row.source_line,
        updated=from_epoch(row.updated),
        translations=translated,
        enrichment=enrichment,
    )


def _insert_values(item: Item, digest: str, run_id: int) -> dict[str, Any]:
    published = to_epoch(item.published)
    return {
        "agency": item.agency,
        "news_id": item.news_id,
        "lang": item.lang,
        "news_num": _news_num(item.news_id),
        "title": item.title,
        "published": published,
        "sort_time": published,
        "updated": published,
        "link": item.link,
        "text": item.text,
        "category": item.category,
        "source_file": item.source_file,
        "source_line": item.source_line,
        "content_hash": digest,
        "created_run": run_id,
    }


def _export_record(row: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "agency": row.agency,
        "news_id": row.news_id,
        "lang": row.lang,
        "title": row.title,
        "published": from_epoch(row.published).isoformat(),
        "updated": from_epoch(row.updated).isoformat(),
        "link": row.link,
        "text": row.text,
        "category": row.category,
        "source_file": row.source_file,
        "source_line": row.source_line,
    }
    if row.status is not None or row.exact_published is not None:
        record["enrichment"] = {
            "status": row.status,
            "reason": row.reason,
            "published": from_epoch(row.exact_published).isoformat()
            if row.exact_published is not None
            else None,
            "checked_at": row.checked_at,
            "next_due": row.next_due,
            "failures": row.failures,
            "etag": row.etag,
            "last_modified": row.last_modified,
            "body_html": row.body_html,
            "image": row.image,
        }
    return record


def _run_record(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        kind=row.kind,
        started=datetime.fromtimestamp(row.started, UTC),
        finished=datetime.fromtimestamp(row.finished, UTC) if row.finished else None,
        duration_ms=row.duration_ms,
        outcome=row.outcome,
        files=row.files,
        new=row.new,
        updated=row.updated,
        unchanged=row.unchanged,
        rejected=row.rejected,
        details=json.loads(row.details) if row.details else {},
    )


def _describe(error: exc.SQLAlchemyError, engine: Engine) -> str:
    """One line for the operator: which database, what went wrong, no password, no SQL."""
    original = getattr(error, "orig", None)
    message = str(original if original is not None else error).strip().splitlines()
    first = message[0] if message else type(error).__name__
    where = engine.url.render_as_string(hide_password=True)
    return f"database {where}: {first}"


def _head_revision() -> str:
    """The newest migration's id, read from the versions folder without loading Alembic."""
    versions = Path(__file__).with_name("migrations") / "versions"
    names = sorted(p.stem for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    return names[-1].split("_", 1)[0]


__all__ = ["Store", "schema"]
