"""Enrichment against the local fake gov.kz: strategies, faults, politeness, safety."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aggregator.build import build
from aggregator.enrich import Enricher
from aggregator.fakegovkz import ROBOTS_DISALLOW_ALL, FakeGovKz, Fault
from aggregator.fetch import Fetcher, build_user_agent
from aggregator.store import Store
from tests.conftest import DATA
from tests.test_store import ingest

FAKE_DATA = DATA / "govkz"
FEEDCHECK = Path(__file__).resolve().parent.parent / "tools" / "feedcheck" / "feedcheck"
BASE = "https://feeds.example.org/"
EMPTY = ("932111", "932125", "933953")


@pytest.fixture
def fake() -> Iterator[FakeGovKz]:
    with FakeGovKz(FAKE_DATA, port=0) as server:
        yield server


@pytest.fixture
def seeded(store: Store, seed_dir: Path) -> Store:
    ingest(store, seed_dir)
    return store


def enricher(fake: FakeGovKz, rps: float = 200.0, **fetch: Any) -> Enricher:
    fetcher = Fetcher(
        fake.origin,
        user_agent=build_user_agent("https://example.org/contact"),
        requests_per_second=rps,
        connect_timeout=1.0,
        read_timeout=fetch.pop("read_timeout", 1.0),
        total_timeout=fetch.pop("total_timeout", 3.0),
        **fetch,
    )
    return Enricher(fetcher)


def records(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["news_id"], r["lang"]): r for r in store.export_records() if r.get("kind") is None}


def without_enrichment(found: dict[tuple[str, str], dict[str, Any]]) -> dict[Any, Any]:
    return {k: {n: v for n, v in r.items() if n != "enrichment"} for k, r in found.items()}


def status_of(store: Store, news_id: str, lang: str = "en") -> tuple[str, str]:
    enrichment = records(store)[(news_id, lang)]["enrichment"]
    return enrichment["status"], enrichment["reason"]


def only(store: Store, fake: FakeGovKz, news_id: str, fault: Fault | None = None, **kw: Any) -> Any:
    """Enrich one item (the others made not due) under an optional fault on its paths."""
    with store.transaction() as conn:
        conn.exec_driver_sql(
            "INSERT INTO enrichments (item_id, status, reason, checked_at, next_due, failures) "
            "SELECT id, 'enriched', 'test', 0, 9999999999, 0 FROM items WHERE news_id <> '"
            + news_id
            + "'"
        )
    if fault is not None:
        fake.set_fault(fault, f"/api/v1/public/content-manager/news/{news_id}")
        fake.set_fault(fault, "/memleket/entities/*")
    return enricher(fake, **kw)(store)


def test_fills_empty_items_restores_paragraphs_and_links_translations(
    seeded: Store, fake: FakeGovKz, tmp_path: Path
) -> None:
    counts = enricher(fake)(seeded)
    assert counts == {"enriched": 20}
    found = records(seeded)
    for news_id in EMPTY:
        body = found[(news_id, "en")]["enrichment"]["body_html"]
        assert body.count("<p>") >= 3
    first = found[("963904", "en")]["enrichment"]
    assert first["body_html"].count("<p>") >= 3  # the glued digest text had one line
    assert first["published"] == "2025-02-14T11:58:00+05:00"
    assert found[("963904", "en")]["published"] == "2025-02-14T00:00:00+05:00"  # digest kept
    translations = [r for r in seeded.export_records() if r.get("kind") == "translation"]
    assert {(t["news_id"], t["lang"]) for t in translations} >= {("963904", "kk"), ("963904", "ru")}
    out = tmp_path / "feeds"
    build(seeded, out, base_url=BASE, feed_size=50)
    atom = (out / "ecogeo.atom").read_text("utf-8")
    assert 'rel="related" type="text/html" hreflang="kk"' in atom
    assert "/uploads/" in atom
    if shutil.which("node") and FEEDCHECK.exists():
        for name in ("all.atom", "ecogeo.rss", "ecogeo/en.atom"):
            result = subprocess.run(
                [str(FEEDCHECK), str(out / name)],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
                env={**os.environ},
            )
            assert result.returncode == 0, result.stdout


def test_page_strategy_when_the_api_is_gated(seeded: Store, fake: FakeGovKz) -> None:
    fake.set_api_mode("gated")
    assert only(seeded, fake, "933953") == {"enriched": 1}
    assert status_of(seeded, "933953") == ("enriched", "page")
    assert seeded.get_state("enrich_api_gated_until") is not None


def test_spa_shell_is_nothing_here(seeded: Store, fake: FakeGovKz) -> None:
    fake.set_api_mode("gated")
    fake.set_render_for(())
    before = without_enrichment(records(seeded))
    assert only(seeded, fake, "933953") == {"shell-only": 1}
    assert records(seeded)[("933953", "en")]["enrichment"]["body_html"] is None
    assert without_enrichment(records(seeded)) == before


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        (Fault.not_found(), "not-found", "HTTP 404"),
        (Fault.server_error(), "error", "HTTP 500"),
        (Fault.slow(2.0), "timeout", "timeout"),
        (Fault.hang(), "timeout", "timeout"),
        (Fault.huge(), "error", "too-large"),
        (Fault.invalid_utf8(), "error", "bad-encoding"),
        (Fault.mojibake(), "error", "mojibake"),
        (Fault.redirect("http://example.invalid/x"), "error", "redirect-refused"),
    ],
    ids=["404", "500", "slow", "hang", "huge", "invalid-utf8", "mojibake", "redirect-away"],
)
# A Russian item: mojibake and invalid UTF-8 only show on non-ASCII text.
def test_fault_modes_record_outcome_and_change_nothing_else(
    seeded: Store, fake: FakeGovKz, fault: Fault, status: str, reason: str
) -> None:
    before = records(seeded)
    version = seeded.data_version()
    counts = only(seeded, fake, "937506", fault, read_timeout=0.5, total_timeout=1.5)
    assert counts == {status: 1}
    got_status, got_reason = status_of(seeded, "937506", "ru")
    assert got_status == status
    assert reason in got_reason
    after = records(seeded)
    assert without_enrichment(after) == without_enrichment(before)
    assert after[("937506", "ru")]["enrichment"]["body_html"] is None
    assert seeded.data_version() == version


def test_redirect_to_another_local_port_is_refused(seeded: Store, fake: FakeGovKz) -> None:
    with FakeGovKz(FAKE_DATA, port=0) as other:
        counts = only(seeded, fake, "932111", Fault.redirect(other.url("/x")))
        assert other.requests == ()
    assert counts == {"error": 1}
    assert "redirect-refused" in status_of(seeded, "932111")[1]


def test_429_retry_after_pauses_the_run(seeded: Store, fake: FakeGovKz) -> None:
    fake.set_fault(Fault.too_many_requests("120"))
    counts = enricher(fake)(seeded)
    assert counts == {"paused": 1}
    until = seeded.get_state("enrich_paused_until")
    assert until is not None
    fake.clear_faults()
    fake.clear_requests()
    assert enricher(fake)(seeded) == {"paused": 1}  # honoured by the next run
    assert fake.requests == ()


def test_hostile_page_is_sanitised_in_every_output(
    seeded: Store, fake: FakeGovKz, tmp_path: Path
) -> None:
    fake.set_api_mode("gated")
    counts = only(seeded, fake, "932111", Fault.hostile())
    assert counts == {"enriched": 1}
    out = tmp_path / "feeds"
    build(seeded, out, base_url=BASE, feed_size=50)
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in {".atom", ".rss", ".json", ".html"}:
            text = path.read_text("utf-8").lower()
            for bad in ("<script", "onerror", "onload", "javascript:", "expression("):
                assert bad not in text, (path.name, bad)


def test_politeness_rate_and_conditional_second_pass(seeded: Store, fake: FakeGovKz) -> None:
    assert enricher(fake)(seeded) == {"enriched": 20}
    with seeded.transaction() as conn:
        conn.exec_driver_sql("UPDATE enrichments SET next_due = 0")
    fake.clear_requests()
    counts = enricher(fake, rps=8.0)(seeded)
    assert counts == {"unchanged": 20}
    arrivals = [r.at for r in fake.requests]
    assert len(arrivals) >= 20
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 1 / 8.0 - 0.03
    api = [r for r in fake.requests if "/api/" in r.path]
    assert len(api) == 20
    assert all("if-none-match" in {k.lower() for k in r.headers} for r in api)
    fake.clear_requests()
    assert enricher(fake)(seeded) == {}  # nothing due: no request at all
    assert fake.requests == ()


def test_gated_everywhere_leaves_feeds_byte_identical_and_stops_asking(
    store: Store,
    seed_dir: Path,
    fake: FakeGovKz,
    tmp_path: Path,
    make_store: Callable[[str], Store],
) -> None:
    ingest(store, seed_dir)
    plain = make_store(f"sqlite:///{tmp_path / 'plain.db'}")
    ingest(plain, seed_dir)
    fake.set_fault(Fault.http_status(403))
    counts = enricher(fake)(store)
    assert counts.get("gated") == 1
    assert counts.get("stopped-gated") == 1
    assert len(fake.requests) <= 3  # robots.txt, one API call, one page
    fake.clear_requests()
    assert enricher(fake)(store) == {"stopped-gated": 1}
    assert fake.requests == ()
    a, b = tmp_path / "a", tmp_path / "b"
    build(store, a, base_url=BASE, feed_size=50)
    build(plain, b, base_url=BASE, feed_size=50)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_robots_disallow_means_no_page_requests(seeded: Store, fake: FakeGovKz) -> None:
    fake.set_robots(ROBOTS_DISALLOW_ALL)
    counts = only(seeded, fake, "932111")
    assert counts == {"error": 1}
    assert "robots" in status_of(seeded, "932111")[1]
    assert [r.path for r in fake.requests] == ["/robots.txt"]


def test_outcomes_visible_in_healthz_and_metrics(seeded: Store, fake: FakeGovKz) -> None:
    from aggregator.settings import from_env
    from aggregator.web import create_app

    fake.set_fault(Fault.not_found(), "/api/v1/public/content-manager/news/932111")
    fake.set_fault(Fault.not_found(), "/memleket/entities/ecogeo/press/news/details/932111")
    enricher(fake)(seeded)
    client = create_app(from_env({"AGGREGATOR_DATABASE_URL": "sqlite://"}), seeded).test_client()
    health = client.get("/healthz").get_json()
    assert health["enrichment"] == {"enriched": 19, "not-found": 1}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'govkz_enrichment_items{outcome="not-found"} 1.0' in metrics
    assert 'govkz_enrichment_items{outcome="enriched"} 19.0' in metrics
