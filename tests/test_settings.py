"""One settings table feeds the code, --help and the README; they must agree."""

from __future__ import annotations

import pytest

from aggregator.errors import ConfigError
from aggregator.settings import SETTINGS_TABLE, from_env
from tests.conftest import ROOT


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for setting in SETTINGS_TABLE:
        assert f"`{setting.env}`" in readme, setting.env


def test_defaults() -> None:
    settings = from_env({})
    assert settings.feed_size == 50
    assert settings.database_url == "sqlite:///instance/aggregator.db"
    assert settings.fetch_sources is False


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("AGGREGATOR_FEED_SIZE", "0"),
        ("AGGREGATOR_FEED_SIZE", "x"),
        ("AGGREGATOR_BASE_URL", "ftp://x"),
        ("AGGREGATOR_FETCH_SOURCES", "maybe"),
        ("AGGREGATOR_SOURCE_ORIGIN", "gov.kz"),
        ("AGGREGATOR_FETCH_REQUESTS_PER_SECOND", "0"),
    ],
)
def test_bad_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        from_env({var: value})
    assert var in str(error.value)


def test_token_never_in_repr() -> None:
    settings = from_env({"AGGREGATOR_REFRESH_TOKEN": "s3cr3t-token"})
    assert "s3cr3t-token" not in repr(settings)
