"""Enrichment: ask gov.kz for each item's full text, exact time, images and translations.

Best-effort by construction: every outcome is recorded per item (``enriched``,
``not-found``, ``gated``, ``shell-only``, ``timeout``, ``error``) and decides when the item
is asked about again; nothing here can make an item worse than its digest text. A gated
answer (400 ``notAllowed``, 401, 403) closes that strategy for every item for a while,
and a 429/503 with ``Retry-After`` stops the run and is honoured by the next one.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import unescape
from typing import Literal, cast

from aggregator.errors import FetchError
from aggregator.fetch import Fetcher, Response
from aggregator.model import LANGS
from aggregator.settings import Settings
from aggregator.sourcepage import Article, SourcePageError, parse_api_item, parse_detail_page
from aggregator.store import EnrichmentRow, Store
from aggregator.urls import SourceRef

log = logging.getLogger(__name__)

Strategy = Literal["api", "page"]

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
#: After a success, look again (conditionally) after this long: corrections are rare.
SUCCESS_INTERVAL = 7 * DAY
#: Failures back off exponentially from here, up to the cap.
FAILURE_BASE = 15 * MINUTE
FAILURE_CAP = 7 * DAY
#: A gated strategy is not tried again, for any item, before this.
GATE_INTERVAL = 6 * HOUR
#: Items looked at per refresh, so a refresh stays bounded at one request per second.
ITEMS_PER_RUN = 200
#: An enriched body must keep at least this share of the digest's text to be used.
MIN_BODY_RATIO = 0.8

_GATE_KEYS: dict[Strategy, str] = {
    "api": "enrich_api_gated_until",
    "page": "enrich_page_gated_until",
}
_PAUSE_KEY = "enrich_paused_until"
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt found for one item; ``article`` only for ``enriched``."""

    status: str
    reason: str | None = None
    article: Article | None = None
    response: Response | None = None
    retry_after: float | None = None


class _Gated(Exception):
    """This strategy is gated: no more of its requests in this run."""


class _Paused(Exception):
    """The origin asked us to slow down (429/503 with Retry-After): stop the run."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def plain_length(html: str) -> int:
    return len(" ".join(unescape(_TAGS.sub(" ", html)).split()))


def backoff(failures: int) -> int:
    return int(min(FAILURE_CAP, FAILURE_BASE * 2 ** max(0, failures - 1)))


class Enricher:
    """Callable by :func:`aggregator.refresh.execute`: ``enricher(store) -> counts``."""

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        api_time_rule: Literal["local", "utc"] = "local",
        items_per_run: int = ITEMS_PER_RUN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fetcher = fetcher
        self.origin = fetcher.url_for("/").rstrip("/")
        self.api_time_rule = api_time_rule
        self.items_per_run = items_per_run
        self.clock = clock

    def __call__(self, store: Store) -> dict[str, int]:
        now = int(self.clock())
        counts: Counter[str] = Counter()
        paused = store.get_state(_PAUSE_KEY) or 0
        if paused > now:
            counts["paused"] += 1
            return dict(counts)
        gated = {s for s, key in _GATE_KEYS.items() if (store.get_state(key) or 0) > now}
        for row in store.due_for_enrichment(now, self.items_per_run):
            if gated == {"api", "page"}:
                counts["stopped-gated"] += 1
                break
            try:
                outcome = self._enrich(row, gated)
            except _Paused as pause:
                until = int(self.clock() + max(pause.seconds, MINUTE))
                store.set_state(_PAUSE_KEY, until)
                counts["paused"] += 1
                break
            counts[outcome.status] += 1
            self._save(store, row, outcome)
            if outcome.status == "enriched" and outcome.response is not None:
                self._translations(store, row, gated)
        for strategy in gated:
            key = _GATE_KEYS[strategy]
            if (store.get_state(key) or 0) <= now:
                store.set_state(key, now + GATE_INTERVAL)
        log.info("enriched %s", " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        return dict(counts)

    # --- one item ------------------------------------------------------------------------

    def _enrich(self, row: EnrichmentRow, gated: set[Strategy]) -> Outcome:
        ref = SourceRef(row.agency, row.news_id)
        if not ref.numeric:
            return Outcome("not-found", "no numeric news id: nothing to fetch")
        last: Outcome | None = None
        for strategy in ("api", "page"):
            if strategy in gated:
                continue
            try:
                outcome = self._attempt(strategy, ref, row)
            except _Gated:
                gated.add(strategy)
                last = last or Outcome("gated", f"{strategy} refused the request")
                continue
            if outcome.status in {"enriched", "unchanged"}:
                return outcome
            last = _worse(last, outcome)
        return last or Outcome("gated", "every strategy is gated")

    def _attempt(self, strategy: Strategy, ref: SourceRef, row: EnrichmentRow) -> Outcome:
        conditional = row.status == "enriched"
        if strategy == "api":
            path = f"/api/v1/public/content-manager/news/{ref.page_id}"
            headers = {"Accept-Language": row.lang, "Accept": "application/json"}
        else:
            path = f"{ref.page_path()}?lang={row.lang}"
            headers = {"Accept-Language": row.lang, "Accept": "text/html"}
        try:
            response = self.fetcher.get(
                path,
                headers=headers,
                etag=row.etag if conditional else None,
                last_modified=row.last_modified if conditional else None,
            )
        except FetchError as error:
            status = "timeout" if error.reason == "timeout" else "error"
            return Outcome(status, f"{strategy}: {error.reason}")
        return self._judge(strategy, response, row)

    def _judge(self, strategy: Strategy, response: Response, row: EnrichmentRow) -> Outcome:
        status = response.status
        if status == 304:
            return Outcome("unchanged", f"{strategy}: not modified", response=response)
        if status in {401, 403} or (status == 400 and b"notallowed" in response.body.lower()):
            raise _Gated
        if status in {429, 503} and response.retry_after is not None:
            raise _Paused(response.retry_after)
        if status in {404, 410}:
            return Outcome("not-found", f"{strategy}: HTTP {status}")
        if not response.ok:
            return Outcome("error", f"{strategy}: HTTP {status}", retry_after=response.retry_after)
        try:
            if strategy == "api":
                article = parse_api_item(
                    response.body,
                    origin=self.origin,
                    api_time_rule=self.api_time_rule,
                    charset=response.charset,
                )
            else:
                article = parse_detail_page(
                    response.body, url=response.url, origin=self.origin, charset=response.charset
                )
        except SourcePageError as error:
            return Outcome("error", f"{strategy}: {error.code}")
        if article is None:
            kind = "shell-only" if strategy == "page" else "not-found"
            return Outcome(kind, f"{strategy}: no article in the answer")
        return Outcome("enriched", strategy, article=article, response=response)

    # --- recording -----------------------------------------------------------------------

    def _save(self, store: Store, row: EnrichmentRow, outcome: Outcome) -> None:
        now = int(self.clock())
        if outcome.status in {"enriched", "unchanged"}:
            article = outcome.article
            response = outcome.response
            body = image = None
            exact = None
            if article is not None:
                body = article.body_html if self._better(article.body_html, row.text) else None
                image = article.lead_image
                exact = self._exact_time(article.published, row)
            store.save_enrichment(
                row.item_id,
                status="enriched",
                reason=outcome.reason,
                now=now,
                next_due=now + SUCCESS_INTERVAL,
                failures=0,
                etag=response.etag if response is not None else None,
                last_modified=response.last_modified if response is not None else None,
                body_html=body,
                image=image,
                exact_published=exact,
            )
            return
        failures = row.failures + 1
        wait = backoff(failures)
        if outcome.status in {"gated", "shell-only"}:
            wait = max(wait, GATE_INTERVAL)
        if outcome.retry_after is not None:
            wait = max(wait, int(outcome.retry_after))
        store.save_enrichment(
            row.item_id,
            status=outcome.status,
            reason=outcome.reason,
            now=now,
            next_due=now + wait,
            failures=failures,
        )

    @staticmethod
    def _better(body_html: str, digest_text: str) -> bool:
        """Never replace the digest's text with an empty or shorter body."""
        length = plain_length(body_html)
        return length > 0 and length >= MIN_BODY_RATIO * len(" ".join(digest_text.split()))

    @staticmethod
    def _exact_time(published: datetime | None, row: EnrichmentRow) -> datetime | None:
        """A time of day from the source, if it agrees with the digest's date (±1 day)."""
        if published is None or (published.hour, published.minute, published.second) == (0, 0, 0):
            return None
        digest_day = row.published.date()
        if abs((published.date() - digest_day).days) > 1:
            return None
        return published

    def _translations(self, store: Store, row: EnrichmentRow, gated: set[Strategy]) -> None:
        """Titles of the other language versions, so entries can link their translations."""
        ref = SourceRef(row.agency, row.news_id)
        known = store.known_languages(row.agency, row.news_id)
        for lang in LANGS:
            if lang in known:
                continue
            other = EnrichmentRow(
                item_id=row.item_id,
                agency=row.agency,
                news_id=row.news_id,
                lang=lang,
                title="",
                text="",
                status=None,
                failures=0,
                etag=None,
                last_modified=None,
                body_html=None,
                published=row.published,
            )
            for strategy in ("api", "page"):
                if strategy in gated:
                    continue
                try:
                    outcome = self._attempt(strategy, ref, other)
                except _Gated:
                    gated.add(strategy)
                    continue
                except _Paused:
                    return
                title = outcome.article.title if outcome.article is not None else None
                if title and title.strip() and title.strip() != row.title:
                    store.save_translation(row.agency, row.news_id, lang, title.strip())
                    break
                if outcome.status in {"not-found", "shell-only"}:
                    continue
                break


def _worse(previous: Outcome | None, new: Outcome) -> Outcome:
    """Of two failed strategies, report the more telling one (an error beats a shell)."""
    rank = {"error": 4, "timeout": 3, "not-found": 2, "shell-only": 1, "gated": 0}
    if previous is None or rank.get(new.status, 0) >= rank.get(previous.status, 0):
        return new
    return previous


def make_enricher(settings: Settings) -> Enricher:
    fetcher = Fetcher.from_settings(settings)
    rule = cast(Literal["local", "utc"], settings.api_time_rule)
    return Enricher(fetcher, api_time_rule=rule)
