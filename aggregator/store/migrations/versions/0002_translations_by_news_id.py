"""Look translations up by news id (feeds ask for the versions of 50 news ids at a time).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_translations_news_id", "translations", ["news_id"])


def downgrade() -> None:
    op.drop_index("ix_translations_news_id", table_name="translations")
