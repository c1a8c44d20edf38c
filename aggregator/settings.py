"""One frozen settings object, built once at an entry point from ``AGGREGATOR_*`` variables.

Nothing below the entry points reads ``os.environ``. :data:`SETTINGS_TABLE` is the single
source of the variables' names, defaults and help: the README and ``--help`` are checked
against it by a test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aggregator.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    default: str
    help: str


SETTINGS_TABLE: tuple[Setting, ...] = (
    Setting(
        "database_url",
        "AGGREGATOR_DATABASE_URL",
        "sqlite:///instance/aggregator.db",
        "SQLAlchemy URL of the store; `postgresql+psycopg://...` for several instances.",
    ),
    Setting(
        "seeds",
        "AGGREGATOR_SEEDS",
        "seeds",
        "Folder of digest files that `ingest` and `refresh` read.",
    ),
    Setting(
        "base_url",
        "AGGREGATOR_BASE_URL",
        "",
        "Absolute URL the feeds are published under (used in `rel=self`, ids of feeds, "
        "OPML); empty means the request's host in the app and http://127.0.0.1:8000/ "
        "in the static build.",
    ),
    Setting("feed_size", "AGGREGATOR_FEED_SIZE", "50", "Entries per feed (1-500)."),
    Setting(
        "static_dir",
        "AGGREGATOR_STATIC_DIR",
        "",
        "When set, `refresh` rebuilds the static feeds into this folder.",
    ),
    Setting(
        "refresh_interval",
        "AGGREGATOR_REFRESH_INTERVAL",
        "15m",
        "Scheduler interval: seconds, `30s`/`15m`/`2h`, or a 5-field crontab expression.",
    ),
    Setting(
        "refresh_token",
        "AGGREGATOR_REFRESH_TOKEN",
        "",
        "Enables `POST /refresh` with `Authorization: Bearer <token>`; empty disables it.",
    ),
    Setting(
        "fetch_sources",
        "AGGREGATOR_FETCH_SOURCES",
        "0",
        "1 to fetch each item's gov.kz page during `refresh` (enrichment).",
    ),
    Setting(
        "source_origin",
        "AGGREGATOR_SOURCE_ORIGIN",
        "https://www.gov.kz",
        "The only origin enrichment contacts (point it at `aggregator fake-govkz`).",
    ),
    Setting(
        "fetch_requests_per_second",
        "AGGREGATOR_FETCH_REQUESTS_PER_SECOND",
        "1",
        "Upper bound on requests per second to the source origin.",
    ),
    Setting(
        "trust_proxy",
        "AGGREGATOR_TRUST_PROXY",
        "0",
        "1 to honour X-Forwarded-Proto/Host/For from a reverse proxy.",
    ),
    Setting(
        "cache_max_age",
        "AGGREGATOR_CACHE_MAX_AGE",
        "300",
        "Seconds in `Cache-Control: public, max-age=...` on feeds.",
    ),
    Setting(
        "contact_url",
        "AGGREGATOR_CONTACT_URL",
        "https://github.com/govkz-feeds/govkz-feeds",
        "Contact URL sent in the enrichment User-Agent.",
    ),
    Setting(
        "api_time_rule",
        "AGGREGATOR_API_TIME_RULE",
        "local",
        "How to read the content API's `+00:00` times: `local` (Almaty wall clock "
        "mislabelled as UTC) or `utc`.",
    ),
)


def _parse_bool(var: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"", "0", "false", "no", "off"}:
        return False
    raise ConfigError(var, raw, "expected 1/0, true/false, yes/no or on/off")


def _parse_int(var: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(var, raw, "expected an integer") from None
    if not low <= value <= high:
        raise ConfigError(var, raw, f"must be between {low} and {high}")
    return value


def _parse_rate(var: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(var, raw, "expected a number") from None
    if not 0 < value <= 100:
        raise ConfigError(var, raw, "must be more than 0 and at most 100")
    return value


def _parse_base_url(var: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(var, raw, "expected an absolute http(s) URL")
    return value if value.endswith("/") else value + "/"


def _parse_origin(var: str, raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(var, raw, "expected an http(s) origin such as https://www.gov.kz")
    return f"{parts.scheme}://{parts.netloc}"


def _parse_choice(var: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(var, raw, "expected one of " + ", ".join(choices))
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///instance/aggregator.db"
    seeds: Path = Path("seeds")
    base_url: str = ""
    feed_size: int = 50
    static_dir: Path | None = None
    refresh_interval: str = "15m"
    refresh_token: str = ""
    fetch_sources: bool = False
    source_origin: str = "https://www.gov.kz"
    fetch_requests_per_second: float = 1.0
    trust_proxy: bool = False
    cache_max_age: int = 300
    contact_url: str = "https://github.com/govkz-feeds/govkz-feeds"
    api_time_rule: str = "local"

    def __repr__(self) -> str:
        # The token is a secret: it never appears in logs, errors or tracebacks.
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["refresh_token"]:
            shown["refresh_token"] = "***"  # noqa: S105 - a mask, not a password
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def static_base_url(self) -> str:
        return self.base_url or "http://127.0.0.1:8000/"


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "database_url": lambda var, raw: raw.strip(),
    "seeds": lambda var, raw: Path(raw.strip() or "seeds"),
    "base_url": _parse_base_url,
    "feed_size": lambda var, raw: _parse_int(var, raw, 1, 500),
    "static_dir": lambda var, raw: Path(raw.strip()) if raw.strip() else None,
    "refresh_interval": lambda var, raw: raw.strip(),
    "refresh_token": lambda var, raw: raw.strip(),
    "fetch_sources": _parse_bool,
    "source_origin": _parse_origin,
    "fetch_requests_per_second": _parse_rate,
    "trust_proxy": _parse_bool,
    "cache_max_age": lambda var, raw: _parse_int(var, raw, 0, 31_536_000),
    "contact_url": lambda var, raw: raw.strip(),
    "api_time_rule": lambda var, raw: _parse_choice(var, raw, ("local", "utc")),
}


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Builds and validates the settings; a bad value is a :class:`ConfigError` naming it."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS_TABLE:
        raw = env.get(setting.env, setting.default)
        values[setting.name] = _PARSERS[setting.name](setting.env, raw)
    if not values["database_url"]:
        values["database_url"] = "sqlite:///instance/aggregator.db"
    return Settings(**values)
