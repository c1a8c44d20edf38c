"""The command line as cron and a new user see it: real processes, exit codes, stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEED


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / SEED.name).write_bytes(SEED.read_bytes())
    return tmp_path


def test_ingest_defaults_to_seeds_and_sqlite_under_instance(workdir: Path) -> None:
    first = run(["ingest"], workdir)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "ingest: files=1 new=20 updated=0 unchanged=0 rejected=0"
    assert (workdir / "instance" / "aggregator.db").exists()
    export1 = run(["export"], workdir).stdout
    second = run(["ingest"], workdir)
    assert "new=0 updated=0 unchanged=20" in second.stdout
    assert run(["export"], workdir).stdout == export1
    lines = [json.loads(line) for line in export1.splitlines()]
    assert len(lines) == 20


def test_rejections_exit_2_with_path_and_line(workdir: Path) -> None:
    bad = workdir / "seeds" / "zz_bad.txt"
    bad.write_text(
        "Fine 01.02.2025\nSource : https://www.gov.kz/memleket/entities/a/press/news/details/1\n"
        "Evil 01.02.2025\nSource : https://evil.example/memleket/entities/a/press/news/details/2\n",
        "utf-8",
    )
    result = run(["ingest"], workdir)
    assert result.returncode == 2
    assert "new=21" in result.stdout
    assert "rejected=1" in result.stdout
    assert f"{bad.relative_to(workdir)}:4: foreign-host:" in result.stderr
    assert "Traceback" not in result.stderr


def test_fatal_database_error_exits_1_without_traceback(workdir: Path) -> None:
    result = run(
        ["ingest"], workdir, {"AGGREGATOR_DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/x"}
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr


def test_bad_setting_exits_1(workdir: Path) -> None:
    result = run(["ingest"], workdir, {"AGGREGATOR_FEED_SIZE": "lots"})
    assert result.returncode == 1
    assert "AGGREGATOR_FEED_SIZE" in result.stderr


def test_import_restores_an_export(workdir: Path, tmp_path: Path) -> None:
    run(["ingest"], workdir)
    dump = tmp_path / "dump.jsonl"
    dump.write_text(run(["export"], workdir).stdout, "utf-8")
    other = {"AGGREGATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"}
    result = run(["import", str(dump)], workdir, other)
    assert result.returncode == 0, result.stderr
    assert run(["export"], workdir, other).stdout == dump.read_text("utf-8")


def test_missing_path_is_reported(workdir: Path) -> None:
    result = run(["ingest", "nowhere"], workdir)
    assert result.returncode == 2
    assert "nowhere:1: missing" in result.stderr


def test_serve_ingests_schedules_and_serves(workdir: Path) -> None:
    """The README's main job: ingest, scheduler in-process, the app on the printed URL."""
    import signal
    import time
    import urllib.request

    from tests.test_web_server import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        body = b""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/all.atom", timeout=5) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(0.2)
        assert body.count(b"<entry") == 20
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert f"serve: http://127.0.0.1:{port}/" in out
    assert out.count("refresh: run=") == 1  # once at start, then every 15 minutes
    assert "Traceback" not in out
