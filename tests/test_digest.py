"""The digest grammar: data-driven cases under tests/data/digest plus focused rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator import digest
from aggregator.errors import Problem
from aggregator.model import Item
from tests.conftest import DATA, SEED

CASES = sorted((DATA / "digest").glob("*.txt"))


def split(records: list[Item | Problem]) -> tuple[list[Item], list[Problem]]:
    items = [r for r in records if isinstance(r, Item)]
    problems = [r for r in records if isinstance(r, Problem)]
    return items, problems


def parse(text: str, path: str = "x.txt") -> tuple[list[Item], list[Problem]]:
    return split(list(digest.parse(text, path)))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_digest_cases(case: Path) -> None:
    expected = json.loads(case.with_suffix(".json").read_text("utf-8"))
    items, problems = parse(case.read_text("utf-8"), case.name)
    assert [(p.line, p.code) for p in problems] == [
        (p["line"], p["code"]) for p in expected["problems"]
    ]
    assert len(items) == len(expected["items"])
    for item, want in zip(items, expected["items"], strict=True):
        assert item.source_line == want.pop("line")
        for name, value in want.items():
            actual = getattr(item, name)
            if name == "published":
                actual = actual.isoformat()
            assert actual == value, (name, item)


def test_shipped_seed_has_twenty_items() -> None:
    items, problems = parse(SEED.read_text("utf-8-sig"), SEED.name)
    assert problems == []
    assert len(items) == 20
    by_agency = {a: sum(1 for i in items if i.agency == a) for a in ("ecogeo", "economy", "almaty")}
    assert by_agency == {"ecogeo": 9, "economy": 2, "almaty": 9}
    assert sum(1 for i in items if i.lang == "en") == 18
    assert sum(1 for i in items if i.lang == "ru") == 2
    assert {i.category for i in items} == {"Technology"}
    first = items[0]
    assert first.title == "Dear nature users!"
    # ?lang=kk on an English text: the language is the text's.
    assert first.lang == "en"
    assert first.link.endswith("/ecogeo/press/news/details/963904?lang=en")
    assert first.published.isoformat() == "2025-02-14T00:00:00+05:00"


def test_seed_paragraph_breaks_are_recovered() -> None:
    items, _ = parse(SEED.read_text("utf-8-sig"), SEED.name)
    first = items[0].text.split("\n\n")
    assert first[1].startswith("In addition, a request")
    assert first[0].endswith("(ish.6052, 6000);")
    assert first[2].startswith("In addition, please contact")
    retirees = next(i for i in items if i.title.startswith("Retirees"))
    assert len(retirees.text.split("\n\n")) >= 4
    assert all(not p.startswith("Source") for i in items for p in i.text.split("\n\n"))
    methane = next(i for i in items if i.news_id == "927409")
    assert "< /p>" not in methane.text


@pytest.mark.parametrize(
    ("glued", "expected"),
    [
        (
            "on a first-come basis.In addition, call us.",
            ["on a first-come basis.", "In addition, call us."],
        ),
        ("Use e.g.The form.", ["Use e.g.The form."]),
        ("The N.Sats theatre.", ["The N.Sats theatre."]),
        ("Inflation was 8.5 percent.", ["Inflation was 8.5 percent."]),
        ("Visit St.Petersburg soon.", ["Visit St.Petersburg soon."]),
        ("Ends here (IEA).Event started.", ["Ends here (IEA).", "Event started."]),
        ("Сказал он.«Важно», — добавил.", ["Сказал он.", "«Важно», — добавил."]),
        ("Мы на ул.Абая.Там тихо.", ["Мы на ул.Абая.", "Там тихо."]),
        ("Email sd@nitec.kz: now.", ["Email sd@nitec.kz: now."]),
    ],
)
def test_paragraph_recovery_is_conservative(glued: str, expected: list[str]) -> None:
    assert digest.paragraphs([glued]).split("\n\n") == expected


def test_only_the_last_date_of_a_title_counts() -> None:
    items, _ = parse(
        "Meeting of 01.01.2025 postponed to 05.01.2025 10.01.2025\n"
        "Source : https://www.gov.kz/memleket/entities/mfa/press/news/details/9\n"
    )
    assert items[0].title == "Meeting of 01.01.2025 postponed to 05.01.2025"
    assert items[0].published.date().isoformat() == "2025-01-10"


def test_next_title_directly_under_source_line() -> None:
    items, problems = parse(
        "One 01.02.2025\nSource : https://www.gov.kz/memleket/entities/a/press/news/details/1\n"
        "Two 01.02.2025\nSource : https://www.gov.kz/memleket/entities/a/press/news/details/2\n"
    )
    assert problems == []
    assert [i.title for i in items] == ["One", "Two"]


def test_crlf_bom_and_control_characters() -> None:
    raw = (
        "\ufeffTitle with \x0bcontrol\x00 chars 01.02.2025\r\n"
        "Body \x1b line.\r\n"
        "Source : https://www.gov.kz/memleket/entities/a/press/news/details/1\r\n"
    )
    items, problems = parse(raw)
    assert problems == []
    assert items[0].title == "Title with control chars"
    assert items[0].text == "Body line."


def test_empty_and_heading_only_files_are_not_errors() -> None:
    assert parse("") == ([], [])
    assert parse("\n\n   \n") == ([], [])
    assert parse("Technology\nNews\n") == ([], [])


def test_heading_becomes_category_and_changes_midway() -> None:
    items, _ = parse(
        "Technology\nA 01.02.2025\nSource : https://www.gov.kz/memleket/entities/a/press/news/details/1\n"
        "\nEconomy\n\nB 01.02.2025\nSource : https://www.gov.kz/memleket/entities/a/press/news/details/2\n"
    )
    assert [i.category for i in items] == ["Technology", "Economy"]


def test_urls_are_canonicalised() -> None:
    variants = [
        "https://www.gov.kz/memleket/entities/ecogeo/press/news/details/5?lang=kk",
        "http://gov.kz/memleket/entities/ecogeo/press/news/details/5",
        "https://WWW.GOV.KZ/memleket/entities/ecogeo/press/news/details/5/#section",
        "https://www.gov.kz/memleket/entities/ecogeo/press/news/details/5?lang=ru.",
    ]
    text = "".join(f"Same page {n} 01.02.2025\nSource : {url}\n" for n, url in enumerate(variants))
    items, problems = parse(text)
    assert problems == []
    assert {i.key for i in items} == {("ecogeo", "5", "en")}
    assert {i.link for i in items} == {
        "https://www.gov.kz/memleket/entities/ecogeo/press/news/details/5?lang=en"
    }


def test_parser_never_raises_on_odd_text() -> None:
    odd = (
        "\x00\x01" * 10 + "\n" + "31.13.2025\n" + "Source :\n" + ":" * 100 + "\n" + "x 99.99.9999\n"
    )
    records = list(digest.parse(odd, "odd.txt"))
    assert all(isinstance(r, Problem) for r in records)


def test_bad_time_in_date_line_is_a_bad_date() -> None:
    _, problems = parse(
        "Title\n01.02.2025 25:61:00 10\nSource : https://www.gov.kz/memleket/entities/a/press/news/details/1\n"
    )
    assert [(p.line, p.code) for p in problems] == [(1, "bad-date")]
    assert str(problems[0]).startswith("x.txt:1: bad-date: ")


class TestDecoding:
    def test_utf8_with_and_without_bom(self) -> None:
        assert digest.decode("Привет".encode()) == "Привет"
        assert digest.decode(b"\xef\xbb\xbf" + "Привет".encode()) == "Привет"

    def test_cp1251_cyrillic(self) -> None:
        text = "Сенаторы одобрили закон о статусе Туркестана 13.02.2025\n"
        assert digest.decode(text.encode("cp1251")) == text

    def test_binary_garbage_is_rejected(self) -> None:
        garbage = bytes(range(256)) * 50
        with pytest.raises(digest.UndecodableFile):
            digest.decode(garbage)

    def test_mojibake_is_not_accepted_as_cp1251(self) -> None:
        text = "Сенаторы одобрили закон о статусе Туркестана"
        mojibake = text.encode("utf-8").decode("cp1251").encode("cp1251")
        assert digest.is_mojibake(mojibake.decode("cp1251"))
        assert not digest.is_mojibake(text)
