"""The vocabulary every layer shares: plain frozen records, no behaviour that does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

Lang = Literal["kk", "ru", "en"]
LANGS: tuple[Lang, ...] = get_args(Lang)

#: The feed scope that means "every agency".
ALL = "all"


@dataclass(frozen=True, slots=True)
class Translation:
    """Another language version of the same gov.kz news id, as far as we know it."""

    lang: Lang
    title: str
    link: str


@dataclass(frozen=True, slots=True)
class Enrichment:
    """What fetching the gov.kz source page added to an item; never replaces the digest text."""

    body_html: str | None = None
    image: str | None = None
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """One press release in one language: the unit of identity, storage and feeds.

    Identity is ``(agency, news_id, lang)``; everything else may be corrected later.
    ``text`` is plain text, paragraphs separated by a blank line (``"\\n\\n"``).
    ``published`` and ``updated`` are time-zone aware (Asia/Almaty).
    """

    agency: str
    news_id: str
    lang: Lang
    title: str
    published: datetime
    link: str
    text: str = ""
    category: str | None = None
    source_file: str = ""
    source_line: int = 0
    updated: datetime | None = None
    translations: tuple[Translation, ...] = ()
    enrichment: Enrichment | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.agency, self.news_id, self.lang)

    @property
    def effective_published(self) -> datetime:
        """The exact time from the source page when enrichment found one, else the digest date."""
        if self.enrichment is not None and self.enrichment.published is not None:
            return self.enrichment.published
        return self.published

    @property
    def effective_updated(self) -> datetime:
        """Never earlier than the publication time (an enriched exact time can be later)."""
        stored = self.updated if self.updated is not None else self.published
        return max(stored, self.effective_published)


@dataclass(frozen=True, slots=True)
class FeedKey:
    """Which feed: ``scope`` is an agency slug or :data:`ALL`; ``lang`` None is every language."""

    scope: str = ALL
    lang: Lang | None = None

    @property
    def path_stem(self) -> str:
        """The path without extension, the same in the static build and the web app."""
        return self.scope if self.lang is None else f"{self.scope}/{self.lang}"


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """A request for entries of one feed; the web app adds ``q`` and ``before`` paging.

    ``before`` alone means strictly older than that instant. Digest items share midnight
    timestamps, so a page can end inside a group of equal times: the next-page cursor is
    then ``before=T`` with ``skip=n`` = "at or before T, skipping the first n entries whose
    time is exactly T", which never loses or repeats an entry.
    """

    key: FeedKey = field(default_factory=FeedKey)
    limit: int = 50
    q: str | None = None
    before: datetime | None = None
    skip: int | None = None
