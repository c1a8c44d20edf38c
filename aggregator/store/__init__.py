"""The store: items, enrichment results, seed-file states and runs in SQLite or PostgreSQL.

The only package that imports SQLAlchemy. Driver errors are translated to
:class:`~aggregator.errors.StoreError` here, once, so callers never see a driver exception.
"""

from __future__ import annotations

from aggregator.store.core import (
    EnrichmentRow,
    FileState,
    RunRecord,
    Store,
    WriteCounts,
    display_url,
)
from aggregator.store.locks import RefreshLock

__all__ = [
    "EnrichmentRow",
    "FileState",
    "RefreshLock",
    "RunRecord",
    "Store",
    "WriteCounts",
    "display_url",
]
