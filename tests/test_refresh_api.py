"""POST /refresh and GET /refresh/{id}: token rules, 202/409, the status URL, no token leaks."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from flask import Flask

from aggregator.settings import from_env
from aggregator.store import Store
from aggregator.web import EXTENSION, create_app
from tests import reliability

TOKEN = "s3cret-refresh-token-value"


def app_for(store: Store, seeds: Path, token: str = TOKEN) -> Flask:
    settings = from_env(
        {
            "AGGREGATOR_DATABASE_URL": "sqlite://",
            "AGGREGATOR_SEEDS": str(seeds),
            "AGGREGATOR_REFRESH_TOKEN": token,
        }
    )
    return create_app(settings, store)


def wait_done(store: Store, run_id: int, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        run = store.run(run_id)
        assert run is not None
        if run.outcome != "running":
            return run.outcome
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_disabled_without_token(store: Store, seed_dir: Path) -> None:
    client = app_for(store, seed_dir, token="").test_client()
    assert client.post("/refresh").status_code == 404
    assert client.post("/refresh", headers={"Authorization": "Bearer x"}).status_code == 404
    assert client.get("/refresh/1").status_code == 404


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer \x00",
        "Bearer " + "a" * 5000,
    ],
)
def test_missing_or_wrong_token_is_401(store: Store, seed_dir: Path, header: str | None) -> None:
    client = app_for(store, seed_dir).test_client()
    headers = {} if header is None else {"Authorization": header}
    response = client.post("/refresh", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in response.get_data(as_text=True)
    assert client.get("/refresh/1", headers=headers).status_code == 401
    assert store.count_runs() == 0
    reliability.count("secrets", 1, TOKEN in response.get_data(as_text=True), "401 bodies")


def test_202_then_status_then_409_while_running(store: Store, seed_dir: Path) -> None:
    app = app_for(store, seed_dir)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # Hold the lock as another instance would: the request must answer 409 with its id.
    other = store.refresh_lock()
    assert other.acquire()
    running = store.begin_run("refresh", int(time.time()))
    busy = client.post("/refresh", headers=auth)
    assert busy.status_code == 409
    assert busy.get_json()["id"] == running
    other.release()
    store.finish_run(running, outcome="ok", now=int(time.time()), duration_ms=0)

    accepted = client.post("/refresh", headers=auth)
    assert accepted.status_code == 202
    body = accepted.get_json()
    assert body["status_url"] == f"/refresh/{body['id']}"
    assert accepted.headers["Location"] == body["status_url"]
    app.extensions[EXTENSION].refresh.join(30)
    assert wait_done(store, body["id"]) == "ok"
    status = client.get(body["status_url"], headers=auth)
    assert status.status_code == 200
    assert (status.get_json()["status"], status.get_json()["new"]) == ("ok", 20)
    assert client.get("/refresh/999999", headers=auth).status_code == 404
    assert client.get("/refresh/" + "9" * 50, headers=auth).status_code == 404  # not a 500
    assert store.count_items() == 20


def test_token_never_in_logs_or_metrics(
    store: Store,
    seed_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = app_for(store, seed_dir)
    client = app.test_client()
    with caplog.at_level(logging.DEBUG):
        client.post("/refresh", headers={"Authorization": f"Bearer {TOKEN}"})
        client.post("/refresh", headers={"Authorization": "Bearer wrong"})
        client.post(f"/refresh?token={TOKEN}")
        app.extensions[EXTENSION].refresh.join(30)
        metrics = client.get("/metrics").get_data(as_text=True)
        health = client.get("/healthz").get_data(as_text=True)
    out = capsys.readouterr()
    places = {
        "log records": caplog.text,
        "stdout": out.out,
        "stderr": out.err,
        "metrics": metrics,
        "healthz": health,
        "settings repr": repr(app.extensions[EXTENSION].settings),
    }
    leaks = [name for name, text in places.items() if TOKEN in text]
    reliability.count("secrets", len(places), len(leaks), "logs, metrics, healthz, repr")
    assert leaks == []
