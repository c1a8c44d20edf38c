"""The language of an item, decided by its text (the URL's ``?lang=`` is often wrong)."""

from __future__ import annotations

import re

from aggregator.model import Lang

_KAZAKH_ONLY = re.compile("[әғқңөұүһіӘҒҚҢӨҰҮҺІ]+")
# Runs, not single letters: findall returns one string per word instead of per letter.
_CYRILLIC = re.compile("[\u0400-\u04ff]+")
_LATIN = re.compile("[A-Za-z]+")
# Enough text to decide; counting the whole of a long body only costs time.
SAMPLE = 600


def detect(text: str) -> Lang:
    """Kazakh-specific letters mean kk, other Cyrillic means ru, Latin means en.

    A Russian text quoting one Kazakh name (``Қонаев``) stays Russian: Kazakh needs at least
    two Kazakh-only letters that make up at least 1.5% of the Cyrillic letters (ordinary
    Kazakh prose has 5-10%).
    """
    sample = text[:SAMPLE]
    cyrillic = sum(map(len, _CYRILLIC.findall(sample)))
    latin = sum(map(len, _LATIN.findall(sample)))
    if cyrillic == 0 or latin > cyrillic:
        return "en"
    kazakh = sum(map(len, _KAZAKH_ONLY.findall(sample)))
    if kazakh >= 2 and kazakh * 1000 >= cyrillic * 15:
        return "kk"
    return "ru"
