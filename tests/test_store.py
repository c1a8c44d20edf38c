"""The store contract, on SQLite and on PostgreSQL (when AGGREGATOR_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.errors import Problem, StoreError
from aggregator.ingest import Ingester, IngestReport, find_seed_files
from aggregator.model import FeedKey, FeedQuery
from aggregator.store import Store

ALMATY = ZoneInfo("Asia/Almaty")
URL = "https://www.gov.kz/memleket/entities/{agency}/press/news/details/{id}"


def ingest(
    store: Store, *paths: Path, clock: float = 1_800_000_000.0, skip: bool = False
) -> tuple[IngestReport, list[Problem]]:
    problems: list[Problem] = []
    run_id = store.begin_run("ingest", int(clock))
    report = Ingester(store, on_problem=problems.append, clock=lambda: clock).run(
        find_seed_files(list(paths)), run_id=run_id, skip_unchanged=skip
    )
    return report, problems


def export(store: Store) -> list[dict[str, object]]:
    return list(store.export_records())


def item_text(
    title: str, news_id: int, body: str = "", agency: str = "ecogeo", date: str = "01.02.2025"
) -> str:
    return f"{title} {date}\n{body}\nSource : {URL.format(agency=agency, id=news_id)}\n\n"


def test_seed_ingest_counts_and_idempotence(store: Store, seed_dir: Path) -> None:
    report, problems = ingest(store, seed_dir)
    assert problems == []
    assert (report.counts.new, report.counts.updated, report.rejected) == (20, 0, 0)
    assert store.agency_counts() == {"almaty": {"en": 9}, "ecogeo": {"en": 9}, "economy": {"ru": 2}}
    before = export(store)
    version = store.data_version()
    again, _ = ingest(store, seed_dir, clock=1_900_000_000.0)
    assert (again.counts.new, again.counts.updated, again.counts.unchanged) == (0, 0, 20)
    assert export(store) == before
    assert store.data_version() == version


def test_export_fields_and_order(store: Store, seed_dir: Path) -> None:
    ingest(store, seed_dir)
    records = export(store)
    assert len(records) == 20
    required = {
        "agency",
        "news_id",
        "lang",
        "title",
        "published",
        "updated",
        "link",
        "text",
        "category",
        "source_file",
        "source_line",
    }
    assert all(required <= set(r) for r in records)
    published = [r["published"] for r in records]
    assert published == sorted(published, reverse=True)
    assert records[0]["published"] == "2025-02-14T00:00:00+05:00"
    assert records[0]["source_file"] == "000_61d9ebafb9099430.txt"


def test_changed_item_updates_in_place_and_moves_updated(store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "in"
    seeds.mkdir()
    digest = seeds / "a.txt"
    digest.write_text(item_text("Title", 1, "Old body.") + item_text("Other", 2, "Same."), "utf-8")
    ingest(store, seeds, clock=1_800_000_000.0)
    digest.write_text(item_text("Title", 1, "New body.") + item_text("Other", 2, "Same."), "utf-8")
    report, _ = ingest(store, seeds, clock=1_800_000_500.0)
    assert (report.counts.new, report.counts.updated, report.counts.unchanged) == (0, 1, 1)
    records = {r["news_id"]: r for r in export(store)}
    assert records["1"]["text"] == "New body."
    assert records["1"]["updated"] == datetime.fromtimestamp(1_800_000_500, ALMATY).isoformat()
    assert records["2"]["updated"] == records["2"]["published"]
    assert store.count_items() == 2


def test_same_page_in_many_forms_is_one_item(store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "in"
    seeds.mkdir()
    (seeds / "a.txt").write_text(
        item_text("First", 5, "Body one.")
        + "Second 01.02.2025\nBody two.\nSource : http://gov.kz/memleket/entities/ecogeo/press/news/details/5/?lang=ru\n",
        "utf-8",
    )
    (seeds / "b.txt").write_text(item_text("Third", 5, "Body three."), "utf-8")
    _report, _ = ingest(store, seeds)
    assert store.count_items() == 1
    (record,) = export(store)
    # The greatest (file, line) wins: b.txt's occurrence.
    assert record["title"] == "Third"
    assert record["source_file"] == "b.txt"
    assert record["updated"] == record["published"]


def test_order_and_subsets_change_nothing(store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "in"
    seeds.mkdir()
    (seeds / "a.txt").write_text(item_text("Old", 5, "Old."), "utf-8")
    (seeds / "b.txt").write_text(item_text("New", 5, "New."), "utf-8")
    ingest(store, seeds / "b.txt")
    ingest(store, seeds / "a.txt")
    (record,) = export(store)
    assert record["title"] == "New"
    before = export(store)
    ingest(store, seeds)
    assert export(store) == before


def test_translations_know_of_each_other(store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "in"
    seeds.mkdir()
    (seeds / "a.txt").write_text(
        item_text("Park census held", 7, "Rangers counted.")
        + item_text("В парке прошла перепись", 7, "Егеря посчитали.")
        + item_text("Саябақта санақ өтті", 7, "Қорықшылар санады."),
        "utf-8",
    )
    ingest(store, seeds)
    assert store.count_items() == 3
    entries = store.feed_items(FeedQuery(FeedKey("ecogeo", "en"), limit=10))
    (entry,) = entries
    assert [(t.lang, t.title) for t in entry.translations] == [
        ("kk", "Саябақта санақ өтті"),
        ("ru", "В парке прошла перепись"),
    ]
    assert entry.translations[0].link.endswith("/details/7?lang=kk")


def test_items_of_a_vanished_file_stay(store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "in"
    seeds.mkdir()
    (seeds / "a.txt").write_text(item_text("Kept", 1), "utf-8")
    ingest(store, seeds)
    (seeds / "a.txt").unlink()
    ingest(store, seeds)
    assert store.count_items() == 1


def test_bad_items_are_reported_and_good_ones_kept(store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "in"
    seeds.mkdir()
    (seeds / "a.txt").write_text(
        item_text("Good", 1)
        + "Bad 31.02.2025\nSource : "
        + URL.format(agency="x", id=2)
        + "\n"
        + item_text("Also good", 3),
        "utf-8",
    )
    (seeds / "b.txt").write_bytes(bytes(range(256)) * 40)
    report, problems = ingest(store, seeds)
    assert [(Path(p.path).name, p.line, p.code) for p in problems] == [
        ("a.txt", 5, "bad-date"),
        ("b.txt", 1, "not-text"),
    ]
    assert report.rejected == 2
    assert store.count_items() == 2


def test_cp1251_and_crlf_bom_files(store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "in"
    seeds.mkdir()
    ru = item_text("Сенаторы одобрили закон", 11, "Заседание состоялось.").replace("\n", "\r\n")
    (seeds / "a.txt").write_bytes(ru.encode("cp1251"))
    (seeds / "b.txt").write_bytes(
        b"\xef\xbb\xbf" + item_text("Dear users", 12, "Hello.").replace("\n", "\r\n").encode()
    )
    _report, problems = ingest(store, seeds)
    assert problems == []
    titles = {r["news_id"]: (r["title"], r["lang"], r["text"]) for r in export(store)}
    assert titles == {
        "11": ("Сенаторы одобрили закон", "ru", "Заседание состоялось."),
        "12": ("Dear users", "en", "Hello."),
    }


def test_refresh_skips_unchanged_files_by_state(store: Store, seed_dir: Path) -> None:
    ingest(store, seed_dir, skip=True)
    report, _ = ingest(store, seed_dir, skip=True)
    assert (report.skipped, report.counts.unchanged) == (1, 0)
    seed = next(seed_dir.iterdir())
    seed.touch()
    report, _ = ingest(store, seed_dir, skip=True)
    assert report.skipped == 1  # same size and hash: not re-parsed


def test_feed_query_scopes_order_limit_and_search(store: Store, seed_dir: Path) -> None:
    ingest(store, seed_dir)
    assert len(store.feed_items(FeedQuery(FeedKey("economy", "ru"), limit=50))) == 2
    assert len(store.feed_items(FeedQuery(FeedKey("all", "en"), limit=50))) == 18
    assert len(store.feed_items(FeedQuery(FeedKey("ecogeo"), limit=50))) == 9
    assert len(store.feed_items(FeedQuery(FeedKey(), limit=5))) == 5
    everything = store.feed_items(FeedQuery(FeedKey(), limit=50))
    keys = [(i.published, int(i.news_id)) for i in everything]
    assert keys == sorted(keys, reverse=True)
    found = store.feed_items(FeedQuery(FeedKey(), limit=50, q="ТУРКЕСТАН"))
    assert [i.news_id for i in found] == ["937506"]
    assert store.feed_items(FeedQuery(FeedKey(), limit=50, q="100%_")) == []
    cutoff = datetime(2025, 2, 14, tzinfo=ALMATY)
    older = store.feed_items(FeedQuery(FeedKey(), limit=50, before=cutoff))
    assert older
    assert all(i.published < cutoff for i in older)


def test_export_import_round_trip(store: Store, seed_dir: Path, tmp_path: Path) -> None:
    ingest(store, seed_dir)
    records = export(store)
    with Store.open(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        counts = copy.import_records(json.loads(json.dumps(records)), now=0)
        assert counts.new == 20
        assert export(copy) == records


def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError) as error:
        Store.open("postgresql://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in str(error.value)


def test_paging_through_equal_times_loses_and_repeats_nothing(store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "in"
    seeds.mkdir()
    (seeds / "a.txt").write_text(
        "".join(
            item_text(f"Item {n}", n, date="01.02.2025" if n < 8 else "02.02.2025")
            for n in range(1, 11)
        ),
        "utf-8",
    )
    ingest(store, seeds)
    seen: list[str] = []
    query = FeedQuery(FeedKey(), limit=3)
    while True:
        page = store.feed_items(query)
        if not page:
            break
        seen += [i.news_id for i in page]
        last = page[-1].effective_published
        ties = sum(1 for i in page if i.effective_published == last)
        if query.before == last and query.skip is not None:
            ties += query.skip
        query = FeedQuery(FeedKey(), limit=3, before=last, skip=ties)
    assert seen == ["10", "9", "8", "7", "6", "5", "4", "3", "2", "1"]


def test_an_older_schema_is_migrated_on_open(tmp_path: Path) -> None:
    """A database left at revision 0001 gets 0002 (and keeps its data) when opened."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, inspect

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", "aggregator.store:migrations")
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.exec_driver_sql(
            "INSERT INTO items (agency, news_id, lang, news_num, title, published, sort_time, "
            "updated, link, text, source_file, source_line, content_hash, created_run) VALUES "
            "('a', '1', 'en', 1, 't', 0, 0, 0, 'l', '', 'f', 1, 'h', 1)"
        )
    assert "ix_translations_news_id" not in {
        i["name"] for i in inspect(engine).get_indexes("translations")
    }
    with Store.open(url) as store:
        assert store.count_items() == 1
    assert "ix_translations_news_id" in {
        i["name"] for i in inspect(engine).get_indexes("translations")
    }
    engine.dispose()
