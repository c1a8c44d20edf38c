"""A SQLite store of a million items, filled fast: raw rows into the store's own schema.

The query under test reads one feed's newest 50 entries through an index, so what matters
is the number of rows and their spread over agencies, languages and time, not the length of
their bodies: rows carry a short body, and the parser is bypassed (``executemany`` in
chunks, rows in time order as a live store receives them).
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aggregator.model import Lang
from aggregator.store import Store
from aggregator.urls import SourceRef
from benchmarks.synth import AGENCIES, ALMATY, SENTENCES, TITLES

_COLUMNS = (
    "agency",
    "news_id",
    "lang",
    "news_num",
    "title",
    "published",
    "exact_published",
    "sort_time",
    "updated",
    "link",
    "text",
    "category",
    "source_file",
    "source_line",
    "content_hash",
    "created_run",
)
_INSERT = f"INSERT INTO items ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
_CHUNK = 20_000
_START = int(datetime(2016, 1, 4, tzinfo=ALMATY).timestamp())
_SPAN = 10 * 365 * 86_400


def _rows(count: int, seed: int) -> Iterator[tuple[Any, ...]]:
    """``count`` item rows, oldest first, 1-3 languages per news id, agencies Zipf-like."""
    rng = random.Random(seed)
    weights = [1.0 / (1 + rank * 0.5) for rank in range(len(AGENCIES))]
    langs: tuple[Lang, ...] = ("kk", "ru", "en")
    made = 0
    news_num = 1_000_000
    line = 1
    while made < count:
        news_num += rng.randint(1, 9)
        agency = rng.choices(AGENCIES, weights)[0]
        published = _START + _SPAN * made // count // 86_400 * 86_400
        versions = rng.choice(((0,), (1,), (0, 1), (1, 0), (0, 1, 2), (2,)))
        ref = SourceRef(agency, str(news_num))
        for index in versions:
            if made >= count:
                break
            lang = langs[index]
            sentences = SENTENCES[lang]
            text = ". ".join(rng.choice(sentences) for _ in range(3)) + "."
            title = f"{rng.choice(TITLES[lang])} №{made}"
            content = hashlib.blake2b(f"{ref.news_id}{lang}".encode(), digest_size=16).hexdigest()
            yield (
                agency,
                ref.news_id,
                lang,
                news_num,
                title,
                published,
                None,
                published,
                published,
                ref.link(lang),
                text,
                None,
                "digest.txt",
                line,
                content,
                1,
            )
            made += 1
            line += 5


def fill(path: Path, count: int, *, seed: int = 2025) -> None:
    """Creates the schema through the store (its migrations), then inserts ``count`` rows."""
    Store.open(f"sqlite:///{path}").close()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # A scratch file: no crash safety needed while filling it.
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1000000")
        rows = _rows(count, seed)
        while True:
            chunk = [row for _, row in zip(range(_CHUNK), rows, strict=False)]
            if not chunk:
                break
            connection.execute("BEGIN")
            connection.executemany(_INSERT, chunk)
            connection.execute("COMMIT")
        connection.execute("UPDATE state SET value = value + 1 WHERE key = 'data_version'")
    finally:
        connection.close()
