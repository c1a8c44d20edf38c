"""Property-based tests of the digest grammar (hypothesis): no crash, exact round-trips."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aggregator import digest
from aggregator.errors import Problem
from aggregator.model import Item
from tests import reliability
from tests.conftest import DATA

FUZZ_CASES = DATA / "fuzz"

ALMATY = ZoneInfo("Asia/Almaty")
LETTERS = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "абвгдежзийклмнопрстуфхцчшщыэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ"
    "әғқңөұүһіӘҒҚҢӨҰҮҺІ"
)

words = st.text(alphabet=LETTERS, min_size=1, max_size=12)
titles = st.lists(words, min_size=1, max_size=10).map(" ".join)
sentences = st.lists(words, min_size=1, max_size=12).map(lambda w: " ".join(w) + ".")
paragraphs = st.lists(sentences, min_size=1, max_size=4).map(" ".join)
bodies = st.lists(paragraphs, min_size=0, max_size=5)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=ALMATY)
)
agencies = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)
news_ids = st.integers(min_value=1, max_value=10**12)


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, list[str], datetime, str, int]:
    return draw(titles), draw(bodies), draw(moments), draw(agencies), draw(news_ids)


def as_text(spec: tuple[str, list[str], datetime, str, int], glued: bool) -> str:
    title, body, moment, agency, news_id = spec
    lines = [f"{title} {moment:%d.%m.%Y}", f"{moment:%d.%m.%Y %H:%M:%S} 17"]
    url = f"https://www.gov.kz/memleket/entities/{agency}/press/news/details/{news_id}?lang=kk"
    if body and glued:
        lines += [*body[:-1], f"{body[-1]}Source : {url}"]
    else:
        lines += [*body, f"Source : {url}"]
    return "\n".join(lines) + "\n"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
@example("\x00Title 31.02.2025\nSource : javascript:alert(1)")
@example("a 01.01.2025\n" * 3 + "Source :\n")
def test_any_text_yields_only_items_and_problems(text: str) -> None:
    records = parse_or_keep(text)
    assert all(isinstance(r, Item | Problem) for r in records)
    line_count = text.count("\n") + text.count("\r") + 1
    for record in records:
        line = record.line if isinstance(record, Problem) else record.source_line
        assert 1 <= line <= line_count


@settings(max_examples=200)
@given(st.lists(specs(), min_size=1, max_size=6), st.booleans())
def test_well_formed_items_are_found_exactly(
    generated: list[tuple[str, list[str], datetime, str, int]], glued: bool
) -> None:
    text = "".join(as_text(spec, glued) for spec in generated)
    records = list(digest.parse(text, "gen.txt"))
    problems = [r for r in records if isinstance(r, Problem)]
    items = [r for r in records if isinstance(r, Item)]
    assert problems == []
    assert len(items) == len(generated)
    line = 1
    for item, (title, body, moment, agency, news_id) in zip(items, generated, strict=True):
        assert item.title == title
        assert item.published == moment
        assert (item.agency, item.news_id) == (agency, str(news_id))
        assert item.link == (
            f"https://www.gov.kz/memleket/entities/{agency}/press/news/details/{news_id}"
            f"?lang={item.lang}"
        )
        assert item.text == "\n\n".join(body)
        assert item.source_line == line
        line += 3 + (len(body) - 1 if body and glued else len(body))


@settings(max_examples=200)
@given(st.lists(specs(), min_size=1, max_size=6))
def test_parse_format_round_trip(
    generated: list[tuple[str, list[str], datetime, str, int]],
) -> None:
    first = [r for r in digest.parse("".join(as_text(s, False) for s in generated), "a.txt")]
    assert all(isinstance(r, Item) for r in first)
    again = list(
        digest.parse("".join(digest.format_item(i) for i in first if isinstance(i, Item)), "a.txt")
    )
    strip = lambda item: replace(item, source_line=0)  # noqa: E731 - positions differ by design
    assert [strip(i) for i in again] == [strip(i) for i in first]


@settings(max_examples=150)
@given(st.lists(specs(), min_size=2, max_size=5), st.integers(min_value=0, max_value=4))
def test_problem_lines_point_at_the_broken_item(
    generated: list[tuple[str, list[str], datetime, str, int]], broken: int
) -> None:
    broken %= len(generated)
    blocks = [as_text(spec, False) for spec in generated]
    # Break one item: an impossible date in its title.
    title, rest = blocks[broken].split("\n", 1)
    blocks[broken] = title[:-10] + "31.02.2025\n" + rest.split("\n", 1)[1]
    expected_line = 1 + sum(block.count("\n") for block in blocks[:broken])
    records = list(digest.parse("".join(blocks), "b.txt"))
    problems = [r for r in records if isinstance(r, Problem)]
    assert [(p.line, p.code) for p in problems] == [(expected_line, "bad-date")]
    assert sum(isinstance(r, Item) for r in records) == len(generated) - 1


def parse_or_keep(text: str) -> list[Item | Problem]:
    """Parses; a crash is saved under tests/data/fuzz as a regression case, then re-raised."""
    try:
        records = list(digest.parse(text, "fuzz.txt"))
    except Exception:
        name = f"crash-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
        (FUZZ_CASES / f"{name}.txt").write_text(text, "utf-8", errors="surrogatepass")
        reliability.count("fuzz", 1, 1)
        raise
    reliability.count("fuzz", 1, 0)
    return records


@pytest.mark.parametrize("case", sorted(FUZZ_CASES.glob("*.txt")), ids=lambda p: p.stem)
def test_kept_fuzz_cases(case: Path) -> None:
    records = parse_or_keep(case.read_text("utf-8", errors="surrogatepass"))
    assert all(isinstance(r, Item | Problem) for r in records)


@pytest.mark.slow
@settings(max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=2000))
def test_fuzz_parser_long(text: str) -> None:
    """The bounded fuzz run (``--run-slow``): a crash is kept in tests/data/fuzz."""
    assert all(isinstance(r, Item | Problem) for r in parse_or_keep(text))
