"""Canonical gov.kz source URLs: which page, which agency, which news id.

Pure rules, no I/O. A digest's ``Source :`` URL is reduced to a :class:`SourceRef`; the
feeds' links and ids are rebuilt from it, so ``http://``, a missing ``www``, a trailing
slash, a fragment or a ``?lang=`` that disagrees with the text never split one item in two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from aggregator.model import Lang

CANONICAL_HOST = "www.gov.kz"
_ACCEPTED_HOSTS = frozenset({"www.gov.kz", "gov.kz"})
_PATH = re.compile(
    r"^/memleket/entities/(?P<agency>[a-z0-9][a-z0-9-]{0,62})"
    r"/press/(?P<kind>news|article|events)/details/(?P<id>[A-Za-z0-9][A-Za-z0-9_-]{0,199})/?$"
)


class BadSourceUrl(ValueError):
    """The URL is not a gov.kz press page; ``code`` is the stable problem code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A gov.kz press page, independent of the language it was linked in.

    ``news_id`` is the numeric id for news pages and ``kind/id`` for the rarer
    article and event pages, so the three id sequences never collide.
    """

    agency: str
    news_id: str

    @property
    def kind(self) -> str:
        return self.news_id.split("/", 1)[0] if "/" in self.news_id else "news"

    @property
    def page_id(self) -> str:
        return self.news_id.rsplit("/", 1)[-1]

    @property
    def numeric(self) -> bool:
        """Only numeric news ids can be enriched (old text-slug ids cannot)."""
        return self.kind == "news" and self.page_id.isdigit()

    def page_path(self) -> str:
        return f"/memleket/entities/{self.agency}/press/{self.kind}/details/{self.page_id}"

    def link(self, lang: Lang) -> str:
        """The canonical page in ``lang``: the entry's link and id in every feed."""
        return f"https://{CANONICAL_HOST}{self.page_path()}?lang={lang}"


# The common, well-formed case in one regex match; anything else takes the careful path.
_FAST = re.compile(
    r"^https?://(?:www\.)?gov\.kz/memleket/entities/(?P<agency>[a-z0-9][a-z0-9-]{0,62})"
    r"/press/news/details/(?P<id>[0-9]{1,18})/?(?:\?lang=[a-z]{2})?$"
)


def parse_source_url(raw: str) -> SourceRef:
    """Reduce a digest's source URL to its page, or raise :class:`BadSourceUrl`."""
    fast = _FAST.match(raw)
    if fast is not None:
        return SourceRef(agency=fast["agency"], news_id=fast["id"])
    url = raw.strip()
    if not url:
        raise BadSourceUrl("no-source-url", "the source marker has no URL")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        raise BadSourceUrl("bad-url", f"{url!r} is not a URL") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise BadSourceUrl("bad-scheme", f"{url!r}: only http(s) gov.kz pages are accepted")
    if host not in _ACCEPTED_HOSTS or port not in {None, 80, 443} or parts.username:
        raise BadSourceUrl("foreign-host", f"{url!r} is not a gov.kz page")
    match = _PATH.match(parts.path)
    if match is None:
        raise BadSourceUrl("bad-url", f"{url!r} is not a gov.kz press page")
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in {"lang"} and not name.startswith("utm_"):
            raise BadSourceUrl("bad-url", f"{url!r} has an unexpected query parameter {name!r}")
        del value
    kind, page_id = match["kind"], match["id"]
    news_id = page_id if kind == "news" else f"{kind}/{page_id}"
    return SourceRef(agency=match["agency"], news_id=news_id)
