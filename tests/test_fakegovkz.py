"""The fake gov.kz: a real server on 127.0.0.1, its sample data, modes and faults.

Spoken to with the standard library's http.client, so that these tests check the fake and
not our fetcher.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import pytest

from aggregator.fakegovkz import (
    API_LIST_PATH,
    ROBOTS_DEFAULT,
    ROBOTS_DISALLOW_ALL,
    FakeGovKz,
    Fault,
    date_line,
    preferred_lang,
    run_fake,
    tiny_jpeg,
    tiny_png,
)
from tests.conftest import DATA, SEED

GOVKZ = DATA / "govkz"
RENDERING_UA = "govkz-feeds/0.1.0 (+https://example.org/contact)"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64)"
SOURCE = re.compile(r"entities/([a-z0-9-]+)/press/news/details/(\d+)")

Answer = tuple[int, dict[str, str], bytes]


def fetch(
    fake: FakeGovKz,
    path: str,
    headers: Mapping[str, str] | None = None,
    *,
    method: str = "GET",
    timeout: float = 3.0,
) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    try:
        conn.request(method, path, headers=dict(headers or {}))
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def api(fake: FakeGovKz, path: str, lang: str | None = None) -> tuple[int, Any]:
    status, _, body = fetch(fake, path, {"Accept-Language": lang} if lang else {})
    return status, json.loads(body)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGovKz]:
    with FakeGovKz(GOVKZ) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGovKz) -> Iterator[FakeGovKz]:
    yield server
    server.clear_faults()
    server.clear_requests()
    server.set_api_mode("open")
    server.set_robots(ROBOTS_DEFAULT)
    server.set_render_for(["govkz-feeds"])
    server.set_api_time_rule("local")


# --- the sample data ---------------------------------------------------------------------


def test_there_is_a_sample_for_every_seed_item(server: FakeGovKz) -> None:
    sources = SOURCE.findall(SEED.read_text("utf-8"))
    assert len(sources) == 20
    for slug, news_id in sources:
        article = server.articles[int(news_id)]
        assert article.project == slug
    assert sorted(server.articles) == sorted(int(news_id) for _, news_id in sources)


def test_samples_have_real_bodies_times_images_and_translations(server: FakeGovKz) -> None:
    articles = server.articles.values()
    for article in articles:
        for version in article.versions.values():
            assert version.title
            assert len(version.paragraphs) >= 3, article.id
            assert all(len(p) > 40 for p in version.paragraphs), article.id
    for title_only in (932111, 932125, 933953):
        assert len(server.articles[title_only].versions["en"].paragraphs) >= 3
    timed = [a for a in articles if not a.date_only]
    assert len(timed) >= 18
    assert all(a.published.minute or a.published.hour for a in timed)
    assert sum(1 for a in articles if a.heropic) >= 5
    assert sum(1 for a in articles if a.body_image) >= 1
    assert sum(1 for a in articles if "kk" in a.versions) >= 3
    assert sum(1 for a in articles if "ru" in a.versions) >= 3


# --- pages -------------------------------------------------------------------------------


def test_detail_pages_are_the_app_shell_for_ordinary_clients(fake: FakeGovKz) -> None:
    status, headers, body = fetch(fake, fake.detail_path(963904, "kk"), {"User-Agent": BROWSER_UA})
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert '<div id="root"></div>' in page
    assert "<h1" not in page
    assert 'lang="kk"' in page


def test_detail_pages_are_rendered_for_the_configured_user_agents(fake: FakeGovKz) -> None:
    path = fake.detail_path(963904, "ru")
    _, _, body = fetch(fake, path, {"User-Agent": RENDERING_UA})
    page = body.decode()
    assert "<h1" in page
    assert "Уважаемые природопользователи!" in page
    assert "14 февраля 2025 11:58" in page
    fake.set_render_for(["TelegramBot"])
    _, _, body = fetch(fake, path, {"User-Agent": RENDERING_UA})
    assert "<h1" not in body.decode()
    _, _, body = fetch(fake, path, {"User-Agent": "TelegramBot (like TwitterBot)"})
    assert "<h1" in body.decode()


@pytest.mark.parametrize(
    ("lang", "title", "line"),
    [
        ("kk", "Құрметті табиғат пайдаланушылар!", "14 ақпан 2025 11:58"),
        ("ru", "Уважаемые природопользователи!", "14 февраля 2025 11:58"),
        ("en", "Dear nature users!", "14 February 2025 11:58"),
        ("", "Dear nature users!", "14 February 2025 11:58"),
    ],
)
def test_rendered_page_languages(fake: FakeGovKz, lang: str, title: str, line: str) -> None:
    path = fake.detail_path(963904) + (f"?lang={lang}" if lang else "")
    _, _, body = fetch(fake, path, {"User-Agent": RENDERING_UA})
    page = body.decode()
    assert f">{title}</h1>" in page
    assert f">{line}</p>" in page


def test_rendered_page_of_an_absent_translation_is_empty(fake: FakeGovKz) -> None:
    _, _, body = fetch(fake, fake.detail_path(929638, "kk"), {"User-Agent": RENDERING_UA})
    assert re.search(r'<h1 class="news-details__title"></h1>', body.decode())


def test_unknown_pages(fake: FakeGovKz) -> None:
    unknown = "/memleket/entities/ecogeo/press/news/details/1"
    assert fetch(fake, unknown, {"User-Agent": BROWSER_UA})[0] == 200  # the app answers all
    assert fetch(fake, unknown, {"User-Agent": RENDERING_UA})[0] == 404
    wrong_slug = "/memleket/entities/almaty/press/news/details/963904"
    assert fetch(fake, wrong_slug, {"User-Agent": RENDERING_UA})[0] == 404
    assert fetch(fake, "/nowhere")[0] == 404
    assert fetch(fake, "/", method="POST")[0] == 405


def test_date_lines() -> None:
    moment = datetime(2026, 7, 14, 11, 58)
    assert date_line(moment, "ru") == "14 июля 2026 11:58"
    assert date_line(moment, "kk") == "14 шілде 2026 11:58"
    assert date_line(moment, "en", date_only=True) == "14 July 2026"


# --- the content API ---------------------------------------------------------------------


def test_api_item_honours_accept_language(fake: FakeGovKz) -> None:
    path = fake.api_item_path(936985)
    titles = {lang: api(fake, path, lang)[1]["title"] for lang in ("kk", "ru", "en")}
    assert titles["ru"].startswith("Казахстан приступает")
    assert titles["kk"].startswith("Қазақстан үшінші")
    assert titles["en"].startswith("Kazakhstan begins")
    assert api(fake, path, "kz, ru;q=0.5")[1]["title"] == titles["kk"]
    assert api(fake, path, "ru;q=0.4, en;q=0.9")[1]["title"] == titles["en"]
    assert api(fake, path)[1]["title"] == titles["ru"]


def test_api_item_fields(fake: FakeGovKz) -> None:
    status, item = api(fake, fake.api_item_path(963904), "en")
    assert status == 200
    assert isinstance(item, dict)
    assert set(item) >= {"id", "title", "body", "created_date", "heropic", "projects", "slug"}
    assert item["id"] == 963904
    assert item["created_date"] == "2025-02-14T11:58:00.000+00:00"
    assert item["heropic"].startswith("/uploads/2025/2/14/")
    assert item["projects"] == ["ecogeo"]
    assert item["body"].count("<p>") == 3


def test_api_time_rule_utc_shifts_created_date(fake: FakeGovKz) -> None:
    fake.set_api_time_rule("utc")
    assert api(fake, fake.api_item_path(963904))[1]["created_date"] == (
        "2025-02-14T06:58:00.000+00:00"
    )
    assert api(fake, fake.api_item_path(928425))[1]["created_date"] == (
        "2025-02-01T00:00:00.000+00:00"
    )


def test_api_body_can_be_a_whole_document(fake: FakeGovKz) -> None:
    body = api(fake, fake.api_item_path(937506), "ru")[1]["body"]
    assert body.startswith("<html><head><title>")
    assert "<body><p>" in body


def test_api_absent_translation_and_unknown_item(fake: FakeGovKz) -> None:
    status, item = api(fake, fake.api_item_path(929638), "kk")
    assert status == 200
    assert item["title"] == ""
    assert item["body"] == ""
    assert api(fake, fake.api_item_path(1), "kk") == (404, {"message": "notFound"})


def test_api_gated_mode_switches_at_run_time(fake: FakeGovKz) -> None:
    fake.set_api_mode("gated")
    assert api(fake, fake.api_item_path(963904), "en") == (400, {"message": "notAllowed"})
    assert api(fake, API_LIST_PATH + "?projects=eq:ecogeo") == (400, {"message": "notAllowed"})
    fake.set_api_mode("open")
    assert api(fake, fake.api_item_path(963904), "en")[0] == 200


def test_api_list_filters_sorts_and_pages(fake: FakeGovKz) -> None:
    query = "?projects=eq:almaty&sort-by=created_date:DESC&size=4&page={}"
    pages = [api(fake, API_LIST_PATH + query.format(n), "en")[1] for n in (1, 2, 3, 4)]
    ids = [item["id"] for page in pages for item in page]
    assert [len(page) for page in pages] == [4, 4, 1, 0]
    assert ids[0] == 930461
    almaty = [a for a in fake.articles.values() if a.project == "almaty"]
    assert sorted(ids) == sorted(a.id for a in almaty)
    dates = [item["created_date"] for page in pages for item in page]
    assert dates == sorted(dates, reverse=True)
    kk = api(fake, API_LIST_PATH + "?projects=eq:economy", "kk")[1]
    assert [item["id"] for item in kk] == [937506, 936985]


def test_api_list_date_filters(fake: FakeGovKz) -> None:
    after = API_LIST_PATH + "?projects=eq:ecogeo&created_date=gt:2025-02-14T10:00:00"
    ids = {item["id"] for item in api(fake, after, "en")[1]}
    assert ids == {963904, 932111, 932125}
    assert api(fake, after.replace("gt:", "gte:"), "en")[0] == 500
    assert api(fake, API_LIST_PATH + "?page=0")[0] == 400


def test_preferred_lang() -> None:
    assert preferred_lang(None, "ru") == "ru"
    assert preferred_lang("de, fr", "en") == "en"
    assert preferred_lang("kk-KZ", "en") == "kk"
    assert preferred_lang("ru;q=0, en", "kk") == "en"


# --- caching -----------------------------------------------------------------------------


def test_etag_and_last_modified_give_304(fake: FakeGovKz) -> None:
    path = fake.detail_path(963904, "en")
    ua = {"User-Agent": RENDERING_UA}
    status, headers, _ = fetch(fake, path, ua)
    assert status == 200
    etag, modified = headers["etag"], headers["last-modified"]
    assert modified == "Fri, 14 Feb 2025 07:23:00 GMT"  # 12:23 Almaty
    status, headers, body = fetch(fake, path, {**ua, "If-None-Match": etag})
    assert (status, body) == (304, b"")
    assert headers["etag"] == etag
    assert fetch(fake, path, {**ua, "If-None-Match": '"other"'})[0] == 200
    assert fetch(fake, path, {**ua, "If-Modified-Since": modified})[0] == 304
    assert fetch(fake, path, {**ua, "If-Modified-Since": "Fri, 14 Feb 2025 07:00:00 GMT"})[0] == 200


def test_api_etag_depends_on_the_language(fake: FakeGovKz) -> None:
    path = fake.api_item_path(936985)
    _, ru, _ = fetch(fake, path, {"Accept-Language": "ru"})
    _, kk, _ = fetch(fake, path, {"Accept-Language": "kk"})
    assert ru["etag"] != kk["etag"]
    assert ru["vary"] == "Accept-Language"
    status, _, _ = fetch(fake, path, {"Accept-Language": "kk", "If-None-Match": kk["etag"]})
    assert status == 304


# --- images and robots -------------------------------------------------------------------


def test_uploads_are_real_images(fake: FakeGovKz) -> None:
    jpeg_path = fake.articles[963904].heropic
    assert jpeg_path is not None
    status, headers, body = fetch(fake, jpeg_path)
    assert (status, headers["content-type"]) == (200, "image/jpeg")
    assert body.startswith(b"\xff\xd8\xff\xe0")
    assert body.endswith(b"\xff\xd9")
    sof = body.index(b"\xff\xc0")
    assert struct.unpack(">HH", body[sof + 5 : sof + 9]) == (8, 8)
    png_image = fake.articles[933953].body_image
    assert png_image is not None
    status, headers, body = fetch(fake, png_image[0])
    assert (status, headers["content-type"]) == (200, "image/png")
    assert_valid_png(body)
    assert fetch(fake, "/uploads/2025/2/14/nothing.jpeg")[0] == 404


def assert_valid_png(data: bytes) -> None:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    at, chunks = 8, {}
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, payload = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + payload)
        chunks[kind] = payload
        at += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + 3 * width)


def test_image_generators_are_deterministic_and_distinct() -> None:
    assert tiny_jpeg(10) == tiny_jpeg(10)
    assert tiny_jpeg(10) != tiny_jpeg(200)
    assert_valid_png(tiny_png((1, 2, 3), size=4))


def test_robots_modes(fake: FakeGovKz) -> None:
    status, headers, body = fetch(fake, "/robots.txt")
    assert (status, body.decode()) == (200, ROBOTS_DEFAULT)
    assert headers["content-type"].startswith("text/plain")
    fake.set_robots(ROBOTS_DISALLOW_ALL)
    assert fetch(fake, "/robots.txt")[2] == b"User-agent: *\nDisallow: /\n"
    fake.set_robots(None)
    assert fetch(fake, "/robots.txt")[0] == 404


# --- faults ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "retry_after"),
    [
        (Fault.not_found(), 404, None),
        (Fault.too_many_requests("7"), 429, "7"),
        (Fault.server_error(), 500, None),
        (Fault.unavailable("Wed, 21 Oct 2026 07:28:00 GMT"), 503, "Wed, 21 Oct 2026 07:28:00 GMT"),
        (Fault.http_status(401), 401, None),
        (Fault.http_status(403), 403, None),
    ],
)
def test_status_faults(fake: FakeGovKz, fault: Fault, status: int, retry_after: str | None) -> None:
    path = fake.detail_path(963904, "en")
    fake.set_fault(fault, path)
    got, headers, _ = fetch(fake, path)
    assert got == status
    assert headers.get("retry-after") == retry_after
    assert fetch(fake, fake.detail_path(932111, "en"))[0] == 200  # other paths unaffected


def test_api_status_faults_answer_json(fake: FakeGovKz) -> None:
    fake.set_fault(Fault.server_error(), "/api/*")
    status, item = api(fake, fake.api_item_path(963904))
    assert (status, item) == (500, {"message": "status500"})


def test_slow_fault_answers_after_the_delay(fake: FakeGovKz) -> None:
    fake.set_fault(Fault.slow(0.4))
    started = time.monotonic()
    status, _, body = fetch(fake, fake.detail_path(963904, "en"), {"User-Agent": RENDERING_UA})
    assert 0.4 <= time.monotonic() - started < 2.0
    assert status == 200
    assert b"<h1" in body


def test_hang_fault_never_answers_and_does_not_block_stop() -> None:
    with FakeGovKz(GOVKZ) as fake:
        fake.set_fault(Fault.hang())
        assert fetch(fake, "/robots.txt", timeout=1)[0] == 200  # spared by global faults
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            fetch(fake, fake.detail_path(963904), timeout=0.3)
        assert time.monotonic() - started < 1.0
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2.0


@pytest.mark.parametrize("declare_length", [True, False])
def test_huge_fault_streams_the_size_asked(fake: FakeGovKz, declare_length: bool) -> None:
    fake.set_fault(Fault.huge(1_000_000, declare_length=declare_length))
    status, headers, body = fetch(fake, "/anything")
    assert status == 200
    assert len(body) == 1_000_000
    assert ("content-length" in headers) is declare_length


def test_huge_fault_default_is_over_the_fetch_cap() -> None:
    assert Fault.huge().size > 5 * 1024 * 1024


def test_invalid_utf8_fault(fake: FakeGovKz) -> None:
    fake.set_fault(Fault.invalid_utf8())
    _, headers, body = fetch(fake, fake.detail_path(937506, "ru"), {"User-Agent": RENDERING_UA})
    assert headers["content-type"] == "text/html; charset=utf-8"
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    _, _, body = fetch(fake, fake.api_item_path(937506))
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_mojibake_fault(fake: FakeGovKz) -> None:
    fake.set_fault(Fault.mojibake())
    _, _, body = fetch(fake, fake.detail_path(937506, "ru"), {"User-Agent": RENDERING_UA})
    text = body.decode("utf-8")
    assert "Туркестан" not in text
    assert "РўСѓСЂРєРµСЃС‚Р°РЅ" in text


@pytest.mark.parametrize("location", ["http://example.invalid/", "/elsewhere"])
def test_redirect_fault(fake: FakeGovKz, location: str) -> None:
    fake.set_fault(Fault.redirect(location, status=301), "/old")
    status, headers, _ = fetch(fake, "/old")
    assert (status, headers["location"]) == (301, location)


def test_hostile_fault(fake: FakeGovKz) -> None:
    fake.set_fault(Fault.hostile())
    _, _, body = fetch(fake, fake.detail_path(963904, "en"), {"User-Agent": BROWSER_UA})
    page = body.decode()
    assert "<h1" in page  # rendered even for ordinary clients
    assert page.count("<script") >= 3
    assert "onerror=" in page
    assert 'href="javascript:' in page
    _, _, body = fetch(fake, fake.api_item_path(963904))
    assert "<script" in json.loads(body)["body"]


def test_fault_scope_times_and_precedence(fake: FakeGovKz) -> None:
    page = fake.detail_path(963904, "en")
    fake.set_fault(Fault.server_error())
    fake.set_fault(Fault.not_found(), "/memleket/*")
    fake.set_fault(
        Fault.unavailable(times=2), "/memleket/entities/ecogeo/press/news/details/963904"
    )
    assert [fetch(fake, page)[0] for _ in range(3)] == [503, 503, 404]
    assert fetch(fake, fake.api_item_path(963904))[0] == 500
    assert fetch(fake, "/robots.txt")[0] == 200
    fake.set_fault(Fault.server_error(), "/robots.txt")
    assert fetch(fake, "/robots.txt")[0] == 500
    fake.clear_faults()
    assert fetch(fake, page)[0] == 200


def test_unknown_fault_kind_is_a_bug() -> None:
    with pytest.raises(ValueError, match="fault kind"):
        Fault("explode")  # type: ignore[arg-type]


# --- recording ---------------------------------------------------------------------------


def test_requests_are_recorded_with_monotonic_arrival(fake: FakeGovKz) -> None:
    before = time.monotonic()
    fetch(fake, "/robots.txt", {"User-Agent": RENDERING_UA, "X-Probe": "1"})
    fetch(fake, fake.api_item_path(963904) + "?x=1", {"Accept-Language": "kk"})
    first, second = fake.requests
    assert before <= first.at <= second.at <= time.monotonic()
    assert (first.method, first.path, first.user_agent) == ("GET", "/robots.txt", RENDERING_UA)
    assert first.headers["x-probe"] == "1"
    assert second.path == "/api/v1/public/content-manager/news/963904?x=1"
    assert fake.requests_to("/api/") == (second,)


def test_recording_is_thread_safe(fake: FakeGovKz) -> None:
    def hit(n: int) -> None:
        for _ in range(5):
            fetch(fake, f"/robots.txt?n={n}")

    threads = [threading.Thread(target=hit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.requests) == 40
    assert sorted(r.path for r in fake.requests) == sorted(
        f"/robots.txt?n={n}" for n in range(8) for _ in range(5)
    )


# --- lifecycle ---------------------------------------------------------------------------


def test_port_zero_picks_a_free_port_and_stop_frees_it() -> None:
    with FakeGovKz(GOVKZ) as fake:
        port = fake.port
        assert fake.origin == f"http://127.0.0.1:{port}"
        assert fetch(fake, "/robots.txt")[0] == 200
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_run_fake_serves_until_stopped() -> None:
    ready: list[FakeGovKz] = []
    thread = threading.Thread(target=run_fake, args=(0, GOVKZ), kwargs={"on_ready": ready.append})
    thread.start()
    try:
        deadline = time.monotonic() + 3
        while not ready and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ready
        assert fetch(ready[0], "/robots.txt")[0] == 200
        assert ready[0].origin.startswith("http://127.0.0.1:")
    finally:
        if ready:
            ready[0].stop()
        thread.join(timeout=3)
    assert not thread.is_alive()
