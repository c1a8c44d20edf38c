"""The language of an item, decided by its text (the URL's ``?lang=`` is often wrong)."""

from __future__ import annotations

import re

from aggregator.model import Lang

_KAZAKH_LETTERS = "әғқңөұүһіӘҒҚҢӨҰҮҺІ"
_KAZAKH_ONLY = re.compile(f"[{_KAZAKH_LETTERS}]+")
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
    # Fast path, all in C: text that is (nearly) all ASCII is Latin; counting letters
    # exactly is only needed when the script is not obvious.
    non_ascii = len(sample) - len(sample.encode("ascii", "ignore"))
    if non_ascii * 20 < len(sample):
        return "en"
    if non_ascii * 2 > len(sample):
        # Mostly non-ASCII: Cyrillic prose (spaces and digits are ASCII, letters are not).
        cyrillic = non_ascii
        kazakh = sum(sample.count(letter) for letter in _KAZAKH_LETTERS)
    else:
        cyrillic = sum(map(len, _CYRILLIC.findall(sample)))
        latin = sum(map(len, _LATIN.findall(sample)))
        if cyrillic == 0 or latin > cyrillic:
            return "en"
        kazakh = sum(map(len, _KAZAKH_ONLY.findall(sample)))
    if kazakh >= 2 and kazakh * 1000 >= cyrillic * 15:
        return "kk"
    return "ru"
