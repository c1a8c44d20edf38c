"""The initial schema: items, enrichments, translations, seed files, runs, state.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("news_id", sa.String(220), nullable=False),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("news_num", sa.BigInteger, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("published", sa.BigInteger, nullable=False),
        sa.Column("exact_published", sa.BigInteger, nullable=True),
        sa.Column("sort_time", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.Column("link", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=True),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("source_line", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("created_run", sa.Integer, nullable=False),
        sa.UniqueConstraint("news_id", "agency", "lang", name="uq_items_identity"),
    )
    op.create_index("ix_items_all", "items", ["sort_time", "news_num", "agency", "news_id", "lang"])
    op.create_index(
        "ix_items_agency", "items", ["agency", "sort_time", "news_num", "news_id", "lang"]
    )
    op.create_index(
        "ix_items_lang", "items", ["lang", "sort_time", "news_num", "agency", "news_id"]
    )
    op.create_index(
        "ix_items_agency_lang", "items", ["agency", "lang", "sort_time", "news_num", "news_id"]
    )
    op.create_table(
        "enrichments",
        sa.Column(
            "item_id",
            sa.Integer,
            sa.ForeignKey("items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("checked_at", sa.BigInteger, nullable=False),
        sa.Column("next_due", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("etag", sa.Text, nullable=True),
        sa.Column("last_modified", sa.Text, nullable=True),
        sa.Column("body_html", sa.Text, nullable=True),
        sa.Column("image", sa.Text, nullable=True),
    )
    op.create_index("ix_enrichments_due", "enrichments", ["next_due"])
    op.create_table(
        "translations",
        sa.Column("agency", sa.String(64), primary_key=True),
        sa.Column("news_id", sa.String(220), primary_key=True),
        sa.Column("lang", sa.String(2), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
    )
    op.create_table(
        "seed_files",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("ingested_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started", sa.BigInteger, nullable=False),
        sa.Column("finished", sa.BigInteger, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("new", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("details", sa.Text, nullable=True),
    )
    op.create_table(
        "state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(
        sa.table("state", sa.column("key", sa.String), sa.column("value", sa.BigInteger)),
        [{"key": "data_version", "value": 0}],
    )


def downgrade() -> None:
    for name in ("state", "runs", "seed_files", "translations", "enrichments", "items"):
        op.drop_table(name)
