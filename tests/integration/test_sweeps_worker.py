"""A sweep end to end on real parts: POST through the API with the real
Celery enqueue, a real worker process runs the same-shaped points as one
batch, every point ends `succeeded` with its own profile, equal to a solo
run of its spec, and the sweep's table shows it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gradatlas.service.api import create_app
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.worker.engine import run_experiment

from tests.support import service_env, wait_for, worker_process

TERMINAL = ("succeeded", "failed", "cancelled")
BASE = {"model": {"arch": "mlp", "depth": 3, "width": 16, "activation": "tanh", "init": {"scheme": "normal"}},
        "data": {"input_dim": 8, "samples": 256, "batch_size": 32}, "training": {"steps": 20}, "probe": {"every": 5},
        "device": "cpu"}


def test_a_sweep_runs_batched_through_a_real_worker(settings, store, tmp_path: Path):
    app = create_app(settings, store=store)  # the real CeleryEnqueue on the test broker
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    body = {"name": "e2e", "base": BASE, "grid": {"model.init.weight_var": [0.5, 2.0], "training.lr": [0.01, 0.1]},
            "seeds": [0, 1]}
    sweep = client.post("/api/v1/sweeps", json=body, headers=headers).get_json()
    env = service_env(settings.home, settings.database_url, settings.broker_url, heartbeat_interval_s=0.5)
    log = tmp_path / "worker.log"

    def done():  # type: ignore[no-untyped-def]
        state = client.get(f"/api/v1/sweeps/{sweep['id']}", headers=headers).get_json()
        return state if sum(state["counts"].get(s, 0) for s in ("succeeded", "failed", "cancelled")) == 8 else None

    with worker_process(env, log):
        final = wait_for(done, timeout=180, interval=0.5, what="every point to finish")
    assert final["counts"] == {"succeeded": 8}, log.read_text()[-3000:]
    assert "batch of 8 claimed" in log.read_text()
    for row in final["table"]:
        assert row["summary"]["verdict"] in ("healthy", "vanishing", "exploding")
        experiment = store.get_experiment(row["experiment_id"])
        assert experiment.attempt == 1 and experiment.environment["batched"] == 8
    row = final["table"][5]
    alone = run_experiment(ExperimentSpec.model_validate(store.get_experiment(row["experiment_id"]).spec))
    profile = store.get_profile(row["experiment_id"])
    assert profile.steps == alone.steps == [0, 5, 10, 15, 19]
    for name, values in alone.metrics.items():
        np.testing.assert_allclose(np.array(profile.metrics[name], dtype=float), values, rtol=1e-4, atol=1e-7, err_msg=name)
    np.testing.assert_allclose(profile.loss, alone.loss, rtol=1e-6)


def test_cancelling_one_point_of_a_running_batch_leaves_the_others_to_finish(settings, store, tmp_path: Path):
    app = create_app(settings, store=store)
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    base = {**BASE, "training": {"steps": 4000}, "probe": {"every": 1000}}
    sweep = client.post("/api/v1/sweeps", json={"base": base, "seeds": [0, 1, 2]}, headers=headers).get_json()
    victim, *others = [row["experiment_id"] for row in sweep["table"]]
    env = service_env(settings.home, settings.database_url, settings.broker_url, heartbeat_interval_s=0.3)
    with worker_process(env, tmp_path / "worker.log"):
        wait_for(lambda: store.get_experiment(victim).progress.step > 0, timeout=120, what="the batch to start")
        assert client.post(f"/api/v1/experiments/{victim}/cancel", headers=headers).status_code == 200
        wait_for(lambda: store.get_experiment(victim).status == "cancelled", timeout=60, what="the cancel")
        wait_for(lambda: all(store.get_experiment(i).status in TERMINAL for i in others), timeout=300, what="the rest")
    cancelled = store.get_experiment(victim)
    assert store.get_profile(victim) is None and cancelled.reason == "cancelled"
    for experiment in [store.get_experiment(i) for i in others]:
        # They ran on after the cancel (their own timestamps, not a race against this test's polling).
        assert experiment.status == "succeeded" and experiment.finished_at > cancelled.finished_at, experiment
        assert store.get_profile(experiment.id).steps[-1] == 3999
