"""Operations: a request id that follows a job from the HTTP request into the
worker's JSON log lines, and Prometheus metrics."""

from __future__ import annotations

import json
from pathlib import Path

from gradatlas.service.api import create_app
from gradatlas.service.contracts.queue import CeleryEnqueue

from tests.support import service_env, wait_for, worker_process

SPEC = {"model": {"arch": "mlp", "depth": 2, "width": 8, "activation": "relu"}, "training": {"steps": 3}}


def _client(settings, store):  # type: ignore[no-untyped-def]
    app = create_app(settings, store=store, enqueue=CeleryEnqueue(settings))
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def test_the_request_id_reaches_the_worker_log_lines_of_that_experiment(settings, store, tmp_path: Path):
    client, headers = _client(settings, store)
    response = client.post("/api/v1/experiments", json=SPEC, headers={**headers, "X-Request-Id": "req-trace-42"})
    assert response.headers["X-Request-Id"] == "req-trace-42"
    experiment_id = response.get_json()["id"]
    log = tmp_path / "worker.log"
    with worker_process(service_env(settings.home, settings.database_url, settings.broker_url), log):
        wait_for(lambda: store.get_experiment(experiment_id).status == "succeeded", timeout=90, what="the run")
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    traced = [line for line in lines if line.get("experiment_id") == experiment_id]
    assert traced and all(line["request_id"] == "req-trace-42" for line in traced)
    assert any("claimed" in line["message"] for line in traced)


def test_error_bodies_carry_the_request_id(settings, store):
    client, headers = _client(settings, store)
    body = client.get("/api/v1/experiments/nope", headers={**headers, "X-Request-Id": "req-404"}).get_json()
    assert body["request_id"] == "req-404"
