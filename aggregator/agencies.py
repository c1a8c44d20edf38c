"""Names of gov.kz agencies in Kazakh, Russian and English, from the editable ``agencies.tsv``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from aggregator.model import Lang


@dataclass(frozen=True, slots=True)
class Agency:
    slug: str
    kk: str
    ru: str
    en: str

    def name(self, lang: Lang | None) -> str:
        """The name in ``lang``; a feed of every language is named in English."""
        if lang == "kk":
            return self.kk
        if lang == "ru":
            return self.ru
        return self.en


@cache
def registry() -> dict[str, Agency]:
    text = resources.files("aggregator").joinpath("agencies.tsv").read_text("utf-8")
    return parse_registry(text)


def parse_registry(text: str) -> dict[str, Agency]:
    found: dict[str, Agency] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        slug, kk, ru, en = (part.strip() for part in line.split("\t"))
        found[slug] = Agency(slug, kk, ru, en)
    return found


def agency(slug: str) -> Agency:
    """The known agency, or one named by its slug in every language (unknown slugs still work)."""
    known = registry().get(slug)
    return known if known is not None else Agency(slug, slug, slug, slug)
