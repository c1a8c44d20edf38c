"""Language by text: Kazakh-specific letters mean kk, other Cyrillic ru, Latin en."""

from __future__ import annotations

import pytest

from aggregator.lang import detect


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Dear nature users! We inform you that the transfer has been completed.", "en"),
        ("Snow in “Almaty”: utilities spread reagent — 450 units", "en"),
        ("The akim met Қонаев street residents", "en"),
        ("Туркестан получит особый статус: сенаторы одобрили закон", "ru"),
        ("Улицу Қонаева частично закроют в связи с ремонтом", "ru"),
        ("Жол жөндеу жұмыстарына байланысты көше жабылады", "kk"),
        ("Министрлік өңірді дамыту жөнінде кеңес өткізді", "kk"),
        ("ҚР Үкіметі", "kk"),
        ("", "en"),
        ("12345 !!!", "en"),
        ("Almaty Алматы Almaty", "en"),
        ("Алматы қаласының әкімдігі Almaty", "kk"),
    ],
)
def test_detect(text: str, lang: str) -> None:
    assert detect(text) == lang


def test_long_mixed_text_uses_the_dominant_script() -> None:
    russian = "Заседание состоялось в Астане. " * 10
    assert detect(russian + "Source: gov.kz press release about UNESCO") == "ru"
    assert detect("The meeting was held in Astana. " * 10 + "Заседание") == "en"
