"""The benchmark's vocabulary: figures (measured values), targets (ratios and bounds) and
their evaluation. Pure: no I/O, no clock."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

SERVERS = ("app", "flask", "nginx")
SERVER_LABELS: Mapping[str, str] = {
    "app": "app (Procfile web)",
    "flask": "Flask view, gunicorn",
    "nginx": "nginx static file",
}
REQUESTS = ("plain", "etag", "gzip")
REQUEST_LABELS: Mapping[str, str] = {
    "plain": "GET",
    "etag": "GET If-None-Match (304)",
    "gzip": "GET Accept-Encoding: gzip",
}
CONNECTIONS = (16, 64)
SERVE_METRICS: Mapping[str, str] = {
    "rps": "req/s",
    "p50": "ms",
    "p99": "ms",
    "errors": "count",
}


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    label: str
    unit: str


PIPELINE: tuple[Spec, ...] = (
    Spec("read_floor", "read the digest line by line, no work (floor)", "s"),
    Spec("parse", "parse only (digest.parse_lines)", "s"),
    Spec("ingest_cold_sqlite", "cold ingest into SQLite", "s"),
    Spec("ingest_peak_rss", "peak RSS of the cold ingest process", "MB"),
    Spec("ingest_base_rss", "RSS of the same process without ingesting (imports, store)", "MB"),
    Spec("refresh_unchanged", "refresh, nothing changed (refresh_once in-process)", "ms"),
    Spec("refresh_unchanged_process", "`aggregator refresh`, nothing changed (whole process)", "s"),
    Spec("ingest_changed_1pct", "refresh after 1% of item bodies changed", "s"),
    Spec("ingest_cold_postgres", "cold ingest into PostgreSQL", "s"),
    Spec("build_cold", "`build` of every feed into an empty folder", "s"),
    Spec("build_unchanged", "`build` again, nothing changed", "s"),
    Spec("build_unchanged_rewritten", "files rewritten by the unchanged build", "files"),
    Spec("render_feed", "render one 50-entry feed (all.atom)", "ms"),
    Spec("query_feed_100k", "store query for one feed (agency, lang), 100,000 items", "ms"),
    Spec("query_feed_1m", "store query for one feed (agency, lang), 1,000,000 items", "ms"),
    Spec("query_full_scans", "plan steps of that query that scan a table or sort", "steps"),
)


def serve_name(server: str, request: str, connections: int, metric: str) -> str:
    return f"serve_{server}_{request}_c{connections}_{metric}"


def serve_specs() -> tuple[Spec, ...]:
    found: list[Spec] = []
    for server in SERVERS:
        for request in REQUESTS:
            for connections in CONNECTIONS:
                for metric, unit in SERVE_METRICS.items():
                    label = (
                        f"{SERVER_LABELS[server]}, {REQUEST_LABELS[request]}, "
                        f"{connections} connections: {metric}"
                    )
                    found.append(
                        Spec(serve_name(server, request, connections, metric), label, unit)
                    )
    return tuple(found)


ALL_SPECS: tuple[Spec, ...] = PIPELINE + serve_specs()
FIGURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in ALL_SPECS)
SPECS: Mapping[str, Spec] = {spec.name: spec for spec in ALL_SPECS}


@dataclass(slots=True)
class Figure:
    """One measured quantity: every run's value, or the reason it was not measured."""

    name: str
    runs: list[float] = field(default_factory=list)
    skipped: str | None = None
    note: str = ""

    @property
    def spec(self) -> Spec:
        return SPECS[self.name]

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    @property
    def low(self) -> float | None:
        return min(self.runs) if self.runs else None

    @property
    def high(self) -> float | None:
        return max(self.runs) if self.runs else None

    def as_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "name": self.name,
            "label": spec.label,
            "unit": spec.unit,
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "runs": list(self.runs),
            "skipped": self.skipped,
            "note": self.note,
        }


Compare = Literal["le", "ge"]


@dataclass(frozen=True, slots=True)
class Target:
    """``numerator / denominator`` (or ``numerator`` alone) compared with ``bound``.

    ``figure`` is the row of the table the target is shown on.
    """

    name: str
    label: str
    figure: str
    numerator: str
    denominator: str | None
    compare: Compare
    bound: float
    #: "ratio" shows ``2.1×``; "value" shows the value in the numerator's unit.
    show: Literal["ratio", "value"] = "ratio"

    def bound_text(self) -> str:
        sign = "≤" if self.compare == "le" else "≥"
        if self.show == "ratio":
            return f"{sign} {_number(self.bound)}×"
        return f"{sign} {_number(self.bound)} {SPECS[self.numerator].unit}"


@dataclass(frozen=True, slots=True)
class Outcome:
    target: Target
    value: float | None
    passed: bool | None
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.target.name,
            "label": self.target.label,
            "figure": self.target.figure,
            "target": self.target.bound_text(),
            "value": self.value,
            "passed": self.passed,
            "reason": self.reason,
        }


def _serve_targets() -> list[Target]:
    found: list[Target] = []
    for request in REQUESTS:
        rps = serve_name("app", request, 64, "rps")
        found += [
            Target(
                f"serve_{request}_app_vs_flask",
                f"{REQUEST_LABELS[request]}, 64 conn: app / Flask-gunicorn req/s",
                rps,
                rps,
                serve_name("flask", request, 64, "rps"),
                "ge",
                3.0,
            ),
            Target(
                f"serve_{request}_p99_vs_flask",
                f"{REQUEST_LABELS[request]}, 64 conn: app p99 / Flask-gunicorn p99",
                serve_name("app", request, 64, "p99"),
                serve_name("app", request, 64, "p99"),
                serve_name("flask", request, 64, "p99"),
                "le",
                1.0,
            ),
            Target(
                f"serve_{request}_errors",
                f"{REQUEST_LABELS[request]}, 64 conn: app errors",
                serve_name("app", request, 64, "errors"),
                serve_name("app", request, 64, "errors"),
                None,
                "le",
                0,
                show="value",
            ),
            Target(
                f"serve_{request}_app_vs_nginx",
                f"{REQUEST_LABELS[request]}, 64 conn: app / nginx req/s",
                rps,
                rps,
                serve_name("nginx", request, 64, "rps"),
                "ge",
                0.35,
            ),
        ]
    plain = serve_name("app", "plain", 64, "rps")
    for request in ("etag", "gzip"):
        rps = serve_name("app", request, 64, "rps")
        found.append(
            Target(
                f"serve_{request}_vs_plain",
                f"{REQUEST_LABELS[request]}, 64 conn: app / app's own plain GET req/s",
                rps,
                rps,
                plain,
                "ge",
                1.0,
            )
        )
    return found


TARGETS: tuple[Target, ...] = (
    Target("parse_vs_floor", "parse / floor", "parse", "parse", "read_floor", "le", 2.0),
    Target(
        "cold_vs_parse",
        "cold SQLite ingest / parse",
        "ingest_cold_sqlite",
        "ingest_cold_sqlite",
        "parse",
        "le",
        3.0,
    ),
    Target(
        "peak_rss",
        "peak RSS of a cold ingest",
        "ingest_peak_rss",
        "ingest_peak_rss",
        None,
        "le",
        100.0,
        show="value",
    ),
    Target(
        "refresh_vs_cold",
        "refresh, nothing changed / cold ingest",
        "refresh_unchanged",
        "refresh_unchanged",
        "ingest_cold_sqlite",
        "le",
        0.01,
    ),
    Target(
        "changed_vs_parse",
        "refresh after 1% changed / parse",
        "ingest_changed_1pct",
        "ingest_changed_1pct",
        "parse",
        "le",
        1.2,
    ),
    Target(
        "build_cold", "build of all feeds", "build_cold", "build_cold", None, "le", 5.0, "value"
    ),
    Target(
        "build_unchanged_rewrites",
        "files rewritten when nothing changed",
        "build_unchanged_rewritten",
        "build_unchanged_rewritten",
        None,
        "le",
        0,
        show="value",
    ),
    Target(
        "query_1m",
        "one feed's query at 1,000,000 items",
        "query_feed_1m",
        "query_feed_1m",
        None,
        "le",
        2.0,
        show="value",
    ),
    Target(
        "query_indexed",
        "one feed's query uses indexes only",
        "query_full_scans",
        "query_full_scans",
        None,
        "le",
        0,
        show="value",
    ),
    *_serve_targets(),
)

#: Shown on the table without a pass/miss: worth reading beside the targets.
INFORMATIVE: tuple[tuple[str, str, str, str], ...] = tuple(
    (name, row, row, denominator)
    for name, row, denominator in (
        ("postgres_vs_sqlite", "ingest_cold_postgres", "ingest_cold_sqlite"),
        ("process_vs_cold", "refresh_unchanged_process", "ingest_cold_sqlite"),
        ("build_unchanged_vs_cold", "build_unchanged", "build_cold"),
        ("query_1m_vs_100k", "query_feed_1m", "query_feed_100k"),
    )
)


def _in_seconds(figure: Figure) -> float | None:
    """Durations compared in one unit (a refresh in ms against an ingest in s)."""
    value = figure.median
    if value is None:
        return None
    return value / 1000 if figure.spec.unit == "ms" else value


def _value(figures: Mapping[str, Figure], name: str, *, as_seconds: bool) -> float | None:
    figure = figures.get(name)
    if figure is None:
        return None
    return _in_seconds(figure) if as_seconds else figure.median


def ratio(figures: Mapping[str, Figure], numerator: str, denominator: str) -> float | None:
    durations = SPECS[numerator].unit in {"s", "ms"} and SPECS[denominator].unit in {"s", "ms"}
    top = _value(figures, numerator, as_seconds=durations)
    bottom = _value(figures, denominator, as_seconds=durations)
    if top is None or bottom is None or bottom == 0:
        return None
    return top / bottom


def evaluate(target: Target, figures: Mapping[str, Figure]) -> Outcome:
    missing = [
        name
        for name in (target.numerator, target.denominator)
        if name is not None and (figures.get(name) is None or not figures[name].runs)
    ]
    if missing:
        reasons = [figures[name].skipped or "not measured" for name in missing if name in figures]
        return Outcome(target, None, None, "; ".join(dict.fromkeys(reasons)) or "not measured")
    if target.denominator is None:
        value = figures[target.numerator].median
    else:
        value = ratio(figures, target.numerator, target.denominator)
    if value is None:
        return Outcome(target, None, None, "division by zero")
    passed = value <= target.bound if target.compare == "le" else value >= target.bound
    return Outcome(target, value, passed)


def evaluate_all(figures: Mapping[str, Figure]) -> list[Outcome]:
    return [evaluate(target, figures) for target in TARGETS]


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def number(value: float | None) -> str:
    return "—" if value is None else _number(value)


def by_name(figures: Iterable[Figure]) -> dict[str, Figure]:
    return {figure.name: figure for figure in figures}


def missing_names(names: Sequence[str]) -> list[str]:
    """Figure names a result lacks (the test checks the JSON with this)."""
    have = set(names)
    return [name for name in FIGURE_NAMES if name not in have]
