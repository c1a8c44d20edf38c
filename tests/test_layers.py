"""Imports point one way: the pure core imports nothing from the web, the store or HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "aggregator"
CORE = [
    "model",
    "errors",
    "urls",
    "lang",
    "digest",
    "render",
    "agencies",
    "settings",
    "sourcepage",
    "sanitize",
]
FORBIDDEN_IN_CORE = {
    "flask",
    "sqlalchemy",
    "requests",
    "apscheduler",
    "aggregator.store",
    "aggregator.web",
    "aggregator.fetch",
    "aggregator.cli",
    "psycopg",
    "granian",
}
# Each third-party library lives in one module (or package).
OWNERS = {
    "feedgen": {"render"},
    "sqlalchemy": {"store"},
    "alembic": {"store"},
    "bs4": {"sourcepage"},
    "nh3": {"sanitize"},
    "requests": {"fetch"},
    "apscheduler": {"schedule"},
    "click": {"cli"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("name", CORE)
def test_core_modules_do_no_io_imports(name: str) -> None:
    path = PACKAGE / f"{name}.py"
    if not path.exists():
        pytest.skip(f"{name}.py not written yet")
    bad = {
        m for m in imports_of(path) for f in FORBIDDEN_IN_CORE if m == f or m.startswith(f + ".")
    }
    assert bad == set()


def test_each_library_is_imported_in_one_place() -> None:
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        owner = relative.parts[0].removesuffix(".py")
        for module in imports_of(path):
            top = module.split(".")[0]
            if top in OWNERS:
                assert owner in OWNERS[top], f"{relative} imports {module}"
