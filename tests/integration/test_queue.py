"""The queue on real parts: a real `celery worker` process consuming a real
broker (the SQLite transport, or Redis when CI names it), writing to a real
database. No eager mode anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradatlas.service.contracts.queue import RUN_TASK, CeleryEnqueue
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.jobs.submit import publish

from tests.support import service_env, wait_for, worker_process

SMALL = {"name": "queue-test", "model": {"arch": "mlp", "depth": 4, "width": 16, "activation": "tanh"},
         "data": {"input_dim": 8, "samples": 256, "batch_size": 32}, "training": {"steps": 20}, "probe": {"every": 5}}


@pytest.fixture
def enqueue(settings):  # type: ignore[no-untyped-def]
    return CeleryEnqueue(settings)


@pytest.fixture
def worker_env(settings):  # type: ignore[no-untyped-def]
    return service_env(settings.home, settings.database_url, settings.broker_url, heartbeat_interval_s=0.5)


def _submit(store, enqueue, spec=SMALL):  # type: ignore[no-untyped-def]
    experiment = store.create_experiment(ExperimentSpec.model_validate(spec), "alice", "cpu")
    assert publish(experiment.id, "cpu", store, enqueue)
    return experiment.id


def _terminal(store, experiment_id):  # type: ignore[no-untyped-def]
    experiment = store.get_experiment(experiment_id)
    return experiment if experiment.status in ("succeeded", "failed", "cancelled") else None


def test_a_real_worker_runs_a_submitted_experiment_to_succeeded(store, enqueue, worker_env, tmp_path: Path):
    experiment_id = _submit(store, enqueue)
    with worker_process(worker_env, tmp_path / "worker.log"):
        done = wait_for(lambda: _terminal(store, experiment_id), timeout=120, what="the experiment to finish")
    assert done.status == "succeeded", (done.reason, done.error, (tmp_path / "worker.log").read_text()[-3000:])
    assert done.attempt == 1 and done.progress.step == 20
    assert done.summary["verdict"] in ("healthy", "vanishing", "exploding")
    assert done.environment["torch"] and done.environment["worker"]
    profile = store.get_profile(experiment_id)
    assert profile.steps == [0, 5, 10, 15, 19]
    assert len(profile.layers) == 5 and len(profile.metrics["signal_norm"][0]) == 5


def test_a_second_delivery_of_the_same_id_does_nothing(store, enqueue, worker_env, tmp_path: Path):
    experiment_id = _submit(store, enqueue)
    log = tmp_path / "worker.log"
    with worker_process(worker_env, log):
        first = wait_for(lambda: _terminal(store, experiment_id), timeout=120, what="the first run")
        before = store.get_profile(experiment_id)
        enqueue.app.send_task(RUN_TASK, args=[experiment_id], queue="cpu")
        wait_for(lambda: "nothing to do" in log.read_text(), timeout=60, what="the duplicate to be consumed")
    after = store.get_experiment(experiment_id)
    assert first.status == after.status == "succeeded"
    assert after.attempt == 1 and after.finished_at == first.finished_at
    assert store.get_profile(experiment_id) == before


def test_a_cancelled_queued_job_never_runs(store, enqueue, worker_env, tmp_path: Path):
    cancelled_id = _submit(store, enqueue)
    assert store.request_cancel(cancelled_id).status == "cancelled"
    follower_id = _submit(store, enqueue)
    with worker_process(worker_env, tmp_path / "worker.log"):
        wait_for(lambda: _terminal(store, follower_id), timeout=120, what="the job queued behind it")
    cancelled = store.get_experiment(cancelled_id)
    assert cancelled.status == "cancelled" and cancelled.attempt == 0 and cancelled.started_at is None
    assert store.get_profile(cancelled_id) is None
    assert store.get_experiment(follower_id).status == "succeeded"


def test_cancel_while_running_stops_it_without_a_profile(store, enqueue, worker_env, tmp_path: Path):
    long_run = {**SMALL, "training": {"steps": 200000}, "model": {**SMALL["model"], "width": 64}, "probe": {"every": 1000}}
    experiment_id = _submit(store, enqueue, long_run)
    with worker_process(worker_env, tmp_path / "worker.log"):
        wait_for(lambda: store.get_experiment(experiment_id).progress.step > 0, timeout=120, what="the run to start")
        store.request_cancel(experiment_id)
        done = wait_for(lambda: _terminal(store, experiment_id), timeout=30, what="the cancellation")
    assert done.status == "cancelled" and done.reason == "cancelled"
    assert store.get_profile(experiment_id) is None


def test_recovery_publishes_a_job_whose_message_was_lost(store, settings, tmp_path: Path):
    experiment = store.create_experiment(ExperimentSpec.model_validate(SMALL), "alice", "cpu")  # never published
    env = service_env(settings.home, settings.database_url, settings.broker_url,
                      sweep_interval_s=0.5, requeue_after_s=1, heartbeat_interval_s=0.5)
    with worker_process(env, tmp_path / "worker.log", beat=True):
        done = wait_for(lambda: _terminal(store, experiment.id), timeout=120, what="recovery to publish it")
    assert done.status == "succeeded" and done.attempt == 1
    from gradatlas.service.api import create_app

    scraped = create_app(settings, store=store, enqueue=lambda *_: None).test_client().get("/metrics").get_data(as_text=True)
    republished = next(line for line in scraped.splitlines() if line.startswith('gradatlas_sweeper_actions_total{action="republished"}'))
    assert float(republished.split()[-1]) >= 1
