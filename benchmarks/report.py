"""The results as Markdown tables and as JSON. Pure: text and dicts out, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.figures import (
    CONNECTIONS,
    INFORMATIVE,
    PIPELINE,
    REQUEST_LABELS,
    REQUESTS,
    SERVER_LABELS,
    SERVERS,
    SPECS,
    TARGETS,
    Figure,
    Outcome,
    evaluate_all,
    number,
    ratio,
    serve_name,
)

#: Other processes' share of the CPUs during a run above which the report warns.
INTERFERED = 0.2

#: What a ratio is "×" of, in the ratio column.
_SHORT = {
    "read_floor": "floor",
    "parse": "parse",
    "ingest_cold_sqlite": "cold SQLite",
    "build_cold": "cold build",
    "query_feed_100k": "100k",
}


def _min_max(figure: Figure) -> str:
    if figure.low is None or figure.high is None:
        return "—"
    if len(figure.runs) == 1:
        return "(1 run)"
    return f"{number(figure.low)}–{number(figure.high)}"


def _median(figure: Figure) -> str:
    if figure.median is None:
        return f"skipped: {figure.skipped}" if figure.skipped else "—"
    return f"{number(figure.median)} {figure.spec.unit}"


def _verdict(outcome: Outcome) -> str:
    if outcome.passed is None:
        return "n/a"
    return "pass" if outcome.passed else "**miss**"


def _outcome_value(outcome: Outcome) -> str:
    if outcome.value is None:
        return "—"
    target = outcome.target
    if target.show == "value":
        return f"{number(outcome.value)} {SPECS[target.numerator].unit}"
    assert target.denominator is not None
    return f"{number(outcome.value)}× {_SHORT.get(target.denominator, target.denominator)}"


def pipeline_table(figures: Mapping[str, Figure], outcomes: Sequence[Outcome]) -> str:
    rows = [
        "| figure | median | min–max | target | ratio | pass/miss |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in PIPELINE:
        figure = figures.get(spec.name) or Figure(spec.name, skipped="not measured")
        attached = [o for o in outcomes if o.target.figure == spec.name]
        targets = "; ".join(o.target.bound_text() for o in attached) or "—"
        ratios = [_outcome_value(o) for o in attached if o.target.show == "ratio"]
        for _, row, numerator, denominator in INFORMATIVE:
            if row == spec.name:
                value = ratio(figures, numerator, denominator)
                if value is not None:
                    ratios.append(f"{number(value)}× {_SHORT.get(denominator, denominator)}")
        verdicts = "; ".join(_verdict(o) for o in attached) or "—"
        note = f" ({figure.note})" if figure.note else ""
        rows.append(
            f"| {spec.label}{note} | {_median(figure)} | {_min_max(figure)} | {targets} "
            f"| {'; '.join(ratios) or '—'} | {verdicts} |"
        )
    return "\n".join(rows)


def serving_table(figures: Mapping[str, Figure]) -> str:
    """Every server, request and connection count; the app's ratios to the two baselines."""
    rows = [
        "| server | request | conn | req/s | min–max | p50 ms | p99 ms | errors "
        "| app / this req/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for request in REQUESTS:
        for connections in CONNECTIONS:
            for server in SERVERS:
                rps = figures.get(serve_name(server, request, connections, "rps"))
                if rps is None:
                    continue
                p50 = figures[serve_name(server, request, connections, "p50")]
                p99 = figures[serve_name(server, request, connections, "p99")]
                errors = figures[serve_name(server, request, connections, "errors")]
                if rps.median is None:
                    rows.append(
                        f"| {SERVER_LABELS[server]} | {REQUEST_LABELS[request]} | {connections} "
                        f"| skipped: {rps.skipped} | | | | | |"
                    )
                    continue
                relative = "—"
                if server != "app":
                    value = ratio(figures, serve_name("app", request, connections, "rps"), rps.name)
                    relative = f"{number(value)}×" if value is not None else "—"
                rows.append(
                    f"| {SERVER_LABELS[server]} | {REQUEST_LABELS[request]} | {connections} "
                    f"| {number(rps.median)} | {_min_max(rps)} | {number(p50.median)} "
                    f"| {number(p99.median)} | {number(errors.median)} | {relative} |"
                )
    return "\n".join(rows)


def serving_targets_table(outcomes: Sequence[Outcome]) -> str:
    rows = ["| serving target | bound | value | pass/miss |", "| --- | --- | --- | --- |"]
    for outcome in outcomes:
        if not outcome.target.name.startswith("serve_"):
            continue
        if outcome.value is None:
            value = outcome.reason or "—"
        elif outcome.target.show == "ratio":
            value = f"{number(outcome.value)}×"
        else:
            value = _outcome_value(outcome)
        rows.append(
            f"| {outcome.target.label} | {outcome.target.bound_text()} | {value} "
            f"| {_verdict(outcome)} |"
        )
    return "\n".join(rows)


def _background_warning(result: Mapping[str, Any]) -> list[str]:
    """Figures some of whose runs shared the CPUs with other processes."""
    interference: Mapping[str, float] = result.get("interference") or {}
    hit = {name: share for name, share in interference.items() if share > INTERFERED}
    if not hit:
        return []
    shown = ", ".join(f"{name} ({share:.0%})" for name, share in sorted(hit.items()))
    return [
        "",
        f"**Warning:** other processes took a share of the CPUs during some runs of: {shown}; "
        "those figures are less reliable.",
    ]


def markdown(result: Mapping[str, Any], figures: Mapping[str, Figure]) -> str:
    outcomes = evaluate_all(figures)
    config = result["config"]
    lines = [
        f"Machine: {result['machine_line']}.",
        "",
        f"Synthetic digest: {config['items']:,} items ({config['unique']:,} distinct, "
        f"{config['repeats']:,} repeats) from {config['agencies']} agencies, "
        f"{config['digest_mb']:.0f} MB; {config['repeat']} run(s) per figure; serving "
        f"{config['serve_seconds']:g} s per measurement with {config['loadgen']}, "
        f"{config['workers']} worker(s) per server.",
        *_background_warning(result),
        "",
        pipeline_table(figures, outcomes),
        "",
        serving_table(figures),
        "",
        serving_targets_table(outcomes),
    ]
    plans = result.get("query_plans") or {}
    for name, plan in plans.items():
        lines += ["", f"Query plan, {name}:", "", "```text", *plan, "```"]
    return "\n".join(lines) + "\n"


def summary_counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    return {
        "pass": sum(1 for o in outcomes if o.passed is True),
        "miss": sum(1 for o in outcomes if o.passed is False),
        "n/a": sum(1 for o in outcomes if o.passed is None),
    }


def as_json(result: Mapping[str, Any], figures: Mapping[str, Figure]) -> dict[str, Any]:
    outcomes = evaluate_all(figures)
    informative = {
        name: ratio(figures, numerator, denominator)
        for name, _, numerator, denominator in INFORMATIVE
    }
    return {
        **result,
        "figures": {name: figure.as_json() for name, figure in figures.items()},
        "targets": [outcome.as_json() for outcome in outcomes],
        "ratios": informative,
        "summary": summary_counts(outcomes),
        "target_names": [target.name for target in TARGETS],
    }
