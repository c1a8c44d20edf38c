"""The polite fetcher against the fake gov.kz: typed outcomes for every fault, politeness
measured from the fake's own arrival times, robots, redirects, caps and timeouts."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from aggregator.errors import FetchError
from aggregator.fakegovkz import ROBOTS_DEFAULT, ROBOTS_DISALLOW_ALL, FakeGovKz, Fault
from aggregator.fetch import (
    REASONS,
    Fetcher,
    Response,
    build_user_agent,
    parse_retry_after,
)
from aggregator.settings import Settings
from aggregator.sourcepage import SourcePageError, parse_api_item, parse_detail_page
from tests.conftest import DATA

GOVKZ = DATA / "govkz"
CONTACT = "https://example.org/govkz-feeds"
UA = build_user_agent(CONTACT)
# Arrival times are taken by the server after the connection is accepted: allow for jitter.
TOLERANCE = 0.03


class ManualClock:
    """A monotonic clock that only moves when the fetcher sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGovKz]:
    with FakeGovKz(GOVKZ) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGovKz) -> Iterator[FakeGovKz]:
    server.clear_requests()
    yield server
    server.clear_faults()
    server.set_api_mode("open")
    server.set_robots(ROBOTS_DEFAULT)


@pytest.fixture
def fetchers() -> Iterator[list[Fetcher]]:
    made: list[Fetcher] = []
    yield made
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def make(fake: FakeGovKz, fetchers: list[Fetcher]) -> Any:
    def build(origin: str | None = None, **options: Any) -> Fetcher:
        settings: dict[str, Any] = {
            "user_agent": UA,
            "requests_per_second": 100.0,
            "connect_timeout": 1.0,
            "read_timeout": 1.0,
            **options,
        }
        fetcher = Fetcher(origin or fake.origin, **settings)
        fetchers.append(fetcher)
        return fetcher

    return build


def reason_of(call: Any) -> tuple[str, int | None]:
    with pytest.raises(FetchError) as caught:
        call()
    assert caught.value.reason in REASONS
    return caught.value.reason, caught.value.status


def gaps(fake: FakeGovKz) -> list[float]:
    arrivals = sorted(r.at for r in fake.requests)
    return [later - earlier for earlier, later in itertools.pairwise(arrivals)]


# --- the happy path ----------------------------------------------------------------------


def test_a_detail_page_is_fetched_and_parsed(fake: FakeGovKz, make: Any) -> None:
    fetcher = make()
    path = fake.detail_path(963904, "ru")
    response = fetcher.get(path)
    assert response.status == 200
    assert response.ok
    assert response.url == fake.url(path)
    assert response.charset == "utf-8"
    assert response.content_type == "text/html"
    assert response.etag is not None
    assert response.last_modified == "Fri, 14 Feb 2025 07:23:00 GMT"
    article = parse_detail_page(
        response.body, url=response.url, origin=fake.origin, charset=response.charset
    )
    assert article is not None
    assert article.title == "Уважаемые природопользователи!"
    robots, page = fake.requests
    assert robots.path == "/robots.txt"
    assert page.path == path
    assert page.user_agent == UA
    assert page.user_agent.startswith("govkz-feeds/")
    assert f"(+{CONTACT})" in page.user_agent
    assert "cookie" not in page.headers


def test_the_api_with_accept_language(fake: FakeGovKz, make: Any) -> None:
    fetcher = make()
    response = fetcher.get(fake.api_item_path(936985), headers={"Accept-Language": "kk"})
    assert response.status == 200
    assert fake.requests[-1].headers["accept-language"] == "kk"
    article = parse_api_item(response.body, origin=fake.origin, api_time_rule="local")
    assert article is not None
    assert article.title == "Қазақстан үшінші Ерікті ұлттық шолуды талқылауға кірісті"


def test_the_gated_api_is_an_answer_not_an_error(fake: FakeGovKz, make: Any) -> None:
    fake.set_api_mode("gated")
    response = make().get(fake.api_item_path(936985))
    assert response.status == 400
    assert json.loads(response.body) == {"message": "notAllowed"}


def test_conditional_requests(fake: FakeGovKz, make: Any) -> None:
    fetcher = make()
    path = fake.detail_path(930461, "en")
    first = fetcher.get(path)
    again = fetcher.get(path, etag=first.etag)
    assert again.status == 304
    assert again.not_modified
    assert again.body == b""
    assert fake.requests[-1].headers["if-none-match"] == first.etag
    since = fetcher.get(path, last_modified=first.last_modified)
    assert since.status == 304
    assert fake.requests[-1].headers["if-modified-since"] == first.last_modified
    stale = fetcher.get(path, last_modified="Mon, 03 Feb 2025 00:00:00 GMT")
    assert stale.status == 200
    assert stale.body == first.body


# --- politeness --------------------------------------------------------------------------


def test_sequential_requests_are_spaced(fake: FakeGovKz, make: Any) -> None:
    fetcher = make(requests_per_second=10.0)
    for news_id in (963904, 932111, 932125, 933953, 937506, 936985):
        fetcher.get(fake.api_item_path(news_id))
    assert len(fake.requests) == 7  # robots.txt once, then the six items
    assert min(gaps(fake)) >= 0.1 - TOLERANCE


def test_threads_share_the_rate_limit(fake: FakeGovKz, make: Any) -> None:
    fetcher = make(requests_per_second=10.0)

    def work(news_id: int) -> None:
        for _ in range(3):
            fetcher.get(fake.api_item_path(news_id))

    threads = [threading.Thread(target=work, args=(i,)) for i in (963904, 932111, 932125, 933953)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.requests) == 13
    assert len(fake.requests_to("/robots.txt")) == 1
    assert min(gaps(fake)) >= 0.1 - TOLERANCE


def test_redirect_hops_are_spaced_too(fake: FakeGovKz, make: Any) -> None:
    fake.set_fault(Fault.redirect("/hop2"), "/hop1")
    fake.set_fault(Fault.redirect(fake.detail_path(963904, "en")), "/hop2")
    response = make(requests_per_second=10.0).get("/hop1")
    assert response.status == 200
    assert [r.path for r in fake.requests][1:] == ["/hop1", "/hop2", fake.detail_path(963904, "en")]
    assert min(gaps(fake)) >= 0.1 - TOLERANCE


def test_rate_limit_schedule_with_a_manual_clock(fake: FakeGovKz, make: Any) -> None:
    clock = ManualClock()
    fetcher = make(requests_per_second=2.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        fetcher.get(fake.api_item_path(963904))
    assert clock.sleeps == [0.5, 0.5, 0.5]  # robots.txt went first, without waiting
    clock.now += 10  # idle time is not banked as credit
    fetcher.get(fake.api_item_path(963904))
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Fetcher("http://127.0.0.1:1", user_agent=UA, requests_per_second=0)


# --- robots.txt --------------------------------------------------------------------------


def test_robots_is_fetched_once_then_again_after_its_ttl(fake: FakeGovKz, make: Any) -> None:
    clock = ManualClock()
    fetcher = make(robots_ttl=60.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        fetcher.get(fake.api_item_path(963904))
    assert len(fake.requests_to("/robots.txt")) == 1
    clock.now += 61
    fetcher.get(fake.api_item_path(963904))
    assert len(fake.requests_to("/robots.txt")) == 2


def test_robots_disallowing_everything_is_honoured(fake: FakeGovKz, make: Any) -> None:
    fake.set_robots(ROBOTS_DISALLOW_ALL)
    fetcher = make()
    assert reason_of(lambda: fetcher.get(fake.detail_path(963904))) == ("robots", None)
    assert [r.path for r in fake.requests] == ["/robots.txt"]


def test_robots_disallowing_uploads_keeps_images_unfetched(fake: FakeGovKz, make: Any) -> None:
    heropic = fake.articles[963904].heropic
    assert heropic is not None
    fetcher = make()
    assert reason_of(lambda: fetcher.get(heropic))[0] == "robots"
    assert fetcher.get(fake.detail_path(963904)).status == 200
    assert not fake.requests_to("/uploads/")


def test_robots_for_our_agent_alone(fake: FakeGovKz, make: Any) -> None:
    fake.set_robots("User-agent: govkz-feeds\nDisallow: /api/\n\nUser-agent: *\nDisallow:\n")
    fetcher = make()
    assert reason_of(lambda: fetcher.get(fake.api_item_path(963904)))[0] == "robots"
    assert fetcher.get(fake.detail_path(963904)).status == 200


def test_images_when_robots_allow_them(fake: FakeGovKz, make: Any) -> None:
    fake.set_robots("User-agent: *\nDisallow: /search\n")
    heropic = fake.articles[963904].heropic
    assert heropic is not None
    response = make().get(heropic)
    assert response.content_type == "image/jpeg"
    assert response.body.startswith(b"\xff\xd8")


def test_missing_robots_means_allow_all(fake: FakeGovKz, make: Any) -> None:
    fake.set_robots(None)
    assert make().get(fake.detail_path(963904)).status == 200


@pytest.mark.parametrize("fault", [Fault.server_error(), Fault.unavailable("30")])
def test_robots_errors_disallow_for_now(fake: FakeGovKz, make: Any, fault: Fault) -> None:
    fake.set_fault(fault, "/robots.txt")
    fetcher = make()
    assert reason_of(lambda: fetcher.get(fake.detail_path(963904))) == (
        "robots-unavailable",
        fault.status,
    )
    fake.clear_faults()
    assert reason_of(lambda: fetcher.get(fake.detail_path(963904)))[0] == "robots-unavailable"
    assert [r.path for r in fake.requests] == ["/robots.txt"]  # remembered, not retried


def test_robots_error_is_retried_after_a_minute(fake: FakeGovKz, make: Any) -> None:
    clock = ManualClock()
    fake.set_fault(Fault.server_error(times=1), "/robots.txt")
    fetcher = make(clock=clock, sleep=clock.sleep)
    assert reason_of(lambda: fetcher.get(fake.detail_path(963904)))[0] == "robots-unavailable"
    clock.now += 61
    assert fetcher.get(fake.detail_path(963904)).status == 200


# --- answers that are not 200 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.not_found(), 404), (Fault.server_error(), 500), (Fault.http_status(403), 403)],
)
def test_http_errors_come_back_as_answers(
    fake: FakeGovKz, make: Any, fault: Fault, status: int
) -> None:
    path = fake.detail_path(963904)
    fake.set_fault(fault, path)
    response = make().get(path)
    assert response.status == status
    assert not response.ok
    assert response.retry_after is None
    assert len(fake.requests_to(path)) == 1  # no retries


def test_429_retry_after_seconds(fake: FakeGovKz, make: Any) -> None:
    path = fake.api_item_path(963904)
    fake.set_fault(Fault.too_many_requests("120"), path)
    started = time.monotonic()
    response = make().get(path)
    assert time.monotonic() - started < 1.0  # surfaced, not slept on
    assert (response.status, response.retry_after) == (429, 120.0)


def test_503_retry_after_http_date(fake: FakeGovKz, make: Any) -> None:
    path = fake.api_item_path(963904)
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    fake.set_fault(Fault.unavailable(when), path)
    response = make().get(path)
    assert response.status == 503
    assert response.retry_after is not None
    assert 85 <= response.retry_after <= 91


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2026, 10, 21, 7, 28, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected


# --- timeouts and sizes ------------------------------------------------------------------


def test_a_slow_answer_within_the_read_timeout(fake: FakeGovKz, make: Any) -> None:
    path = fake.detail_path(963904)
    fake.set_fault(Fault.slow(0.2), path)
    assert make(read_timeout=1.0).get(path).status == 200


def test_a_slow_answer_past_the_read_timeout(fake: FakeGovKz, make: Any) -> None:
    path = fake.detail_path(963904)
    fake.set_fault(Fault.slow(2.0), path)
    fetcher = make(read_timeout=0.3)
    started = time.monotonic()
    assert reason_of(lambda: fetcher.get(path)) == ("timeout", None)
    assert time.monotonic() - started < 1.5


def test_a_hang_times_out(fake: FakeGovKz, make: Any) -> None:
    path = fake.detail_path(963904)
    fake.set_fault(Fault.hang(), path)
    fetcher = make(read_timeout=0.3)
    started = time.monotonic()
    assert reason_of(lambda: fetcher.get(path)) == ("timeout", None)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_body_over_the_cap_is_abandoned(fake: FakeGovKz, make: Any, declare_length: bool) -> None:
    path = fake.detail_path(963904)
    fake.set_fault(Fault.huge(declare_length=declare_length), path)  # 6 MB
    fetcher = make()  # the default cap: 5 MB
    started = time.monotonic()
    assert reason_of(lambda: fetcher.get(path)) == ("too-large", 200)
    assert time.monotonic() - started < 2.5


def test_a_small_cap(fake: FakeGovKz, make: Any) -> None:
    path = fake.detail_path(963904)
    fake.set_fault(Fault.huge(300_000, declare_length=False), path)
    assert reason_of(lambda: make(max_bytes=100_000).get(path))[0] == "too-large"
    fake.set_fault(Fault.huge(300_000, declare_length=False), path)
    assert len(make(max_bytes=400_000).get(path).body) == 300_000


def test_the_overall_deadline(fake: FakeGovKz, make: Any) -> None:
    path = fake.detail_path(963904)
    fake.set_fault(Fault.huge(1_000_000, declare_length=False), path)
    assert reason_of(lambda: make(total_timeout=0.0).get(path)) == ("timeout", 200)


def test_a_closed_port_is_a_connection_failure(make: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fetcher = make(f"http://127.0.0.1:{port}")
    assert reason_of(lambda: fetcher.get("/x")) == ("connection", None)
    assert reason_of(lambda: fetcher.get("/y")) == ("connection", None)  # remembered a minute


# --- where we may go ---------------------------------------------------------------------


def test_same_origin_redirects_are_followed(fake: FakeGovKz, make: Any) -> None:
    target = fake.detail_path(963904, "en")
    fake.set_fault(Fault.redirect(fake.url(target), status=301), "/old")
    response = make().get("/old")
    assert response.status == 200
    assert response.url == fake.url(target)


@pytest.mark.parametrize(
    "location",
    ["http://example.invalid/", "https://127.0.0.1/", "//example.invalid/x", "ftp://127.0.0.1/"],
)
def test_redirects_off_the_origin_are_refused(fake: FakeGovKz, make: Any, location: str) -> None:
    fake.set_fault(Fault.redirect(location), "/away")
    assert reason_of(lambda: make().get("/away")) == ("redirect-refused", 302)


def test_a_redirect_to_another_local_port_is_refused(fake: FakeGovKz, make: Any) -> None:
    with FakeGovKz(GOVKZ) as other:
        fake.set_fault(Fault.redirect(other.url("/robots.txt"), status=307), "/away")
        assert reason_of(lambda: make().get("/away")) == ("redirect-refused", 307)
        assert other.requests == ()


def test_a_redirect_loop_stops(fake: FakeGovKz, make: Any) -> None:
    fake.set_fault(Fault.redirect("/loop"), "/loop")
    assert reason_of(lambda: make(max_redirects=5).get("/loop")) == ("too-many-redirects", None)
    assert len(fake.requests_to("/loop")) == 6


@pytest.mark.parametrize(
    "url",
    [
        "http://example.invalid/memleket/x",
        "//example.invalid/x",
        "https://127.0.0.1/x",
        "http://user@127.0.0.1:{port}/x",
        "javascript:alert(1)",
    ],
)
def test_urls_off_the_origin_are_refused(fake: FakeGovKz, make: Any, url: str) -> None:
    fetcher = make()
    assert reason_of(lambda: fetcher.get(url.format(port=fake.port))) == ("off-origin", None)
    assert fake.requests == ()


def test_absolute_urls_of_the_origin_are_fine(fake: FakeGovKz, make: Any) -> None:
    assert make().get(fake.url(fake.detail_path(963904))).status == 200


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1"])
def test_a_host_name_resolving_to_a_private_address_is_refused(
    fake: FakeGovKz, make: Any, address: str
) -> None:
    fetcher = make(f"http://govkz.test:{fake.port}", resolve=lambda host: [address])
    assert reason_of(lambda: fetcher.get("/robots.txt")) == ("address-refused", None)
    assert fake.requests == ()


def test_resolution_failure_is_a_connection_failure(make: Any) -> None:
    def fail(host: str) -> list[str]:
        raise socket.gaierror("no such host")

    fetcher = make("https://govkz.test", resolve=fail)
    assert reason_of(lambda: fetcher.get("/x")) == ("connection", None)


# --- bad bodies reach the parser as typed errors -----------------------------------------


@pytest.mark.parametrize(
    ("fault", "code"),
    [(Fault.invalid_utf8(), "bad-encoding"), (Fault.mojibake(), "mojibake")],
)
def test_garbled_pages_are_refused_by_the_parser(
    fake: FakeGovKz, make: Any, fault: Fault, code: str
) -> None:
    path = fake.detail_path(937506, "ru")
    fake.set_fault(fault, path)
    response = make().get(path)
    assert response.status == 200
    with pytest.raises(SourcePageError) as caught:
        parse_detail_page(response.body, url=response.url, origin=fake.origin)
    assert caught.value.code == code


def test_a_hostile_page_is_fetched_and_defused(fake: FakeGovKz, make: Any) -> None:
    path = fake.detail_path(963904, "en")
    fake.set_fault(Fault.hostile(), path)
    response = make().get(path)
    article = parse_detail_page(response.body, url=response.url, origin=fake.origin)
    assert article is not None
    assert article.title == "Dear nature users!"
    for needle in ("<script", "onerror", "javascript:", "<iframe", "<svg"):
        assert needle not in article.body_html.lower()


def test_the_shell_is_recognised_for_another_user_agent(fake: FakeGovKz, make: Any) -> None:
    fetcher = make(user_agent="Mozilla/5.0 (compatible; SomethingElse/1.0)")
    response = fetcher.get(fake.detail_path(963904, "kk"))
    assert response.status == 200
    assert parse_detail_page(response.body, url=response.url, origin=fake.origin) is None


# --- construction ------------------------------------------------------------------------


def test_user_agent_and_settings() -> None:
    assert f"govkz-feeds/0.1.0 (+{CONTACT})" == UA
    settings = Settings(
        source_origin="https://www.gov.kz", contact_url=CONTACT, fetch_requests_per_second=0.5
    )
    with Fetcher.from_settings(settings) as fetcher:
        assert fetcher.origin == "https://www.gov.kz"
        assert fetcher.user_agent == UA
    with Fetcher("HTTPS://WWW.GOV.KZ:443/", user_agent=UA) as fetcher:
        assert fetcher.origin == "https://www.gov.kz"
        assert fetcher.url_for("/a?b=1") == "https://www.gov.kz/a?b=1"


@pytest.mark.parametrize("origin", ["ftp://www.gov.kz", "www.gov.kz", "https://"])
def test_bad_origins_are_a_bug(origin: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        Fetcher(origin, user_agent=UA)


def test_response_helpers() -> None:
    response = Response(
        url="https://www.gov.kz/x",
        status=200,
        headers={"content-type": 'text/HTML; Charset="windows-1251"', "etag": '"a"'},
    )
    assert response.content_type == "text/html"
    assert response.charset == "windows-1251"
    assert response.etag == '"a"'
    assert response.last_modified is None
    assert Response(url="u", status=304).not_modified
    assert Response(url="u", status=200).charset is None
