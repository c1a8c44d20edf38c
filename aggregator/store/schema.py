"""The tables, as SQLAlchemy Core metadata (the queries use it; migrations freeze copies).

Times are integer seconds since the epoch (UTC): portable between SQLite and PostgreSQL,
cheap to index and compare; the store converts them to aware Asia/Almaty datetimes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agency", String(64), nullable=False),
    Column("news_id", String(220), nullable=False),
    Column("lang", String(2), nullable=False),
    # Numeric news id (0 for text ids): ids grow with time, a stable tie-breaker.
    Column("news_num", BigInteger, nullable=False),
    Column("title", Text, nullable=False),
    Column("published", BigInteger, nullable=False),
    Column("exact_published", BigInteger, nullable=True),
    # coalesce(exact_published, published): what feeds are ordered by.
    Column("sort_time", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("link", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("category", Text, nullable=True),
    Column("source_file", Text, nullable=False),
    Column("source_line", Integer, nullable=False),
    Column("content_hash", String(32), nullable=False),
    Column("created_run", Integer, nullable=False),
    # news_id first: ids are global across agencies, so a batch is looked up by news_id.
    UniqueConstraint("news_id", "agency", "lang", name="uq_items_identity"),
)
# Every feed query is one of these four shapes, read backwards from the newest entry.
Index(
    "ix_items_all",
    items.c.sort_time,
    items.c.news_num,
    items.c.agency,
    items.c.news_id,
    items.c.lang,
)
Index(
    "ix_items_agency",
    items.c.agency,
    items.c.sort_time,
    items.c.news_num,
    items.c.news_id,
    items.c.lang,
)
Index(
    "ix_items_lang",
    items.c.lang,
    items.c.sort_time,
    items.c.news_num,
    items.c.agency,
    items.c.news_id,
)
Index(
    "ix_items_agency_lang",
    items.c.agency,
    items.c.lang,
    items.c.sort_time,
    items.c.news_num,
    items.c.news_id,
)

enrichments = Table(
    "enrichments",
    metadata,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("reason", Text, nullable=True),
    Column("checked_at", BigInteger, nullable=False),
    Column("next_due", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False, default=0),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("body_html", Text, nullable=True),
    Column("image", Text, nullable=True),
)
Index("ix_enrichments_due", enrichments.c.next_due)

translations = Table(
    "translations",
    metadata,
    Column("agency", String(64), primary_key=True),
    Column("news_id", String(220), primary_key=True),
    Column("lang", String(2), primary_key=True),
    Column("title", Text, nullable=False),
)
Index("ix_translations_news_id", translations.c.news_id)

seed_files = Table(
    "seed_files",
    metadata,
    Column("path", Text, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("ingested_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("started", BigInteger, nullable=False),
    Column("finished", BigInteger, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("files", Integer, nullable=False, default=0),
    Column("new", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("details", Text, nullable=True),
)

state = Table(
    "state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
