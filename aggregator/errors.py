"""Bad input is data (:class:`Problem`); operational failures are typed exceptions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One rejected piece of input, printed as ``PATH:LINE: code: message``.

    ``code`` is a stable kebab-case string that tests and operators can match on.
    """

    path: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code}: {self.message}"


class AggregatorError(Exception):
    """Base of every error the entry points turn into one ``Error: ...`` line."""


class ConfigError(AggregatorError):
    def __init__(self, var: str, value: str, reason: str) -> None:
        super().__init__(f"{var}={value!r}: {reason}")
        self.var = var
        self.value = value


class StoreError(AggregatorError):
    """The database could not be reached or refused an operation."""


class FetchError(AggregatorError):
    def __init__(self, url: str, status: int | None, reason: str) -> None:
        super().__init__(f"{url}: {reason}" + (f" (HTTP {status})" if status else ""))
        self.url = url
        self.status = status
        self.reason = reason
