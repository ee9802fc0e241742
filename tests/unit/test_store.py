"""The lifecycle's guarantees live in the store's guarded UPDATEs: one claim
per queued job, writes only under the current lease, terminal states final."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gradatlas.service.contracts.spec import ExperimentSpec

SPEC = ExperimentSpec.model_validate({"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"},
                                      "training": {"steps": 5}})


def _profile(values: np.ndarray) -> dict:
    return {"layers": [{"index": i, "name": f"l{i}", "kind": "linear", "shape": [4, 4]} for i in range(values.shape[1])],
            "steps": [0, 4][: values.shape[0]], "loss": [2.3, float("nan")][: values.shape[0]],
            "accuracy": [0.1, 0.2][: values.shape[0]], "metrics": {"grad_norm": values}, "total_steps": 5}


def test_only_one_claim_wins_and_duplicates_are_no_ops(store):
    experiment = store.create_experiment(SPEC, "alice", "cpu")
    first = store.claim(experiment.id, {"worker": "a"})
    assert first is not None and first.attempt == 1
    assert store.claim(experiment.id, {"worker": "b"}) is None
    assert store.complete(first, _profile(np.ones((1, 3))), {"verdict": "healthy"}, {})
    assert store.claim(experiment.id, {"worker": "c"}) is None
    done = store.get_experiment(experiment.id)
    assert done.status == "succeeded" and done.attempt == 1 and done.progress.step == 5


def test_a_stale_lease_cannot_write_after_recovery_requeued_it(store):
    experiment = store.create_experiment(SPEC, "alice", "cpu")
    old = store.claim(experiment.id, {})
    time.sleep(0.05)
    report = store.recover(requeue_after_s=60, stale_after_s=0.01, max_attempts=3)
    assert report.requeued == [experiment.id] and (experiment.id, "cpu") in report.republish
    assert store.heartbeat(old, 1, 5).alive is False
    new = store.claim(experiment.id, {})
    assert new is not None and new.attempt == 2 and new.lease != old.lease
    assert not store.complete(old, _profile(np.ones((1, 3))), {"verdict": "healthy"}, {})
    assert not store.finish(old, "failed", "error")
    assert store.get_profile(experiment.id) is None
    assert store.complete(new, _profile(np.full((1, 3), 2.0)), {"verdict": "healthy"}, {})
    assert store.get_profile(experiment.id).metrics["grad_norm"] == [[2.0, 2.0, 2.0]]


def test_a_job_that_keeps_losing_its_worker_fails_with_worker_lost(store):
    experiment = store.create_experiment(SPEC, "alice", "cpu")
    for attempt in range(1, 4):
        claim = store.claim(experiment.id, {})
        assert claim is not None and claim.attempt == attempt
        time.sleep(0.03)
        store.recover(requeue_after_s=60, stale_after_s=0.01, max_attempts=3)
    final = store.get_experiment(experiment.id)
    assert final.status == "failed" and final.reason == "worker_lost" and final.attempt == 3
    assert store.claim(experiment.id, {}) is None


def test_live_heartbeats_keep_the_job_and_carry_progress_and_cancellation(store):
    experiment = store.create_experiment(SPEC, "alice", "cpu")
    claim = store.claim(experiment.id, {})
    beat = store.heartbeat(claim, 3, 5)
    assert beat.alive and not beat.cancel_requested
    assert store.get_experiment(experiment.id).progress.step == 3
    assert store.recover(requeue_after_s=60, stale_after_s=30, max_attempts=3).requeued == []
    assert store.request_cancel(experiment.id).status == "running"
    assert store.heartbeat(claim, 4, 5).cancel_requested
    assert store.finish(claim, "cancelled", "cancelled")
    assert store.get_experiment(experiment.id).status == "cancelled"


def test_a_cancelled_queued_job_is_never_claimed(store):
    experiment = store.create_experiment(SPEC, "alice", "cpu")
    assert store.request_cancel(experiment.id).status == "cancelled"
    assert store.claim(experiment.id, {}) is None
    assert store.get_experiment(experiment.id).attempt == 0


def test_profiles_keep_tiny_and_non_finite_values(store):
    experiment = store.create_experiment(SPEC, "alice", "cpu")
    claim = store.claim(experiment.id, {})
    values = np.array([[1e-30, 1e-60, np.inf], [np.nan, 3.5, 0.0]])
    assert store.complete(claim, _profile(values), {"verdict": "diverged"}, {})
    _, _, arrays = store.get_profile_arrays(experiment.id)
    stored = arrays["metric.grad_norm"]
    assert stored.dtype == np.float64  # 1e-60 does not survive float32
    np.testing.assert_array_equal(stored, values)
    profile = store.get_profile(experiment.id)
    assert profile.metrics["grad_norm"] == [[1e-30, 1e-60, None], [None, 3.5, 0.0]]
    assert profile.loss == [2.3, None]


def test_float32_storage_when_values_fit(store):
    experiment = store.create_experiment(SPEC, "alice", "cpu")
    claim = store.claim(experiment.id, {})
    assert store.complete(claim, _profile(np.array([[1e-30, 2.0, 3.0]])), {}, {})
    _, _, arrays = store.get_profile_arrays(experiment.id)
    assert arrays["metric.grad_norm"].dtype == np.float32
    assert arrays["metric.grad_norm"][0, 0] == pytest.approx(1e-30, rel=1e-6)


def test_a_pooled_connection_the_database_dropped_is_replaced_not_handed_to_a_request(store, database_url, monkeypatch):
    """PostgreSQL only: a connection idle past PING_AFTER_IDLE_S is pinged at
    checkout, and one that the server terminated is replaced."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL")
    from gradatlas.service.store import session as db_session
    from sqlalchemy import create_engine, make_url, text

    store.ping()  # one pooled connection
    admin = create_engine(make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        killed = connection.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :n"),
                                    {"n": make_url(database_url).database}).scalar()
    admin.dispose()
    assert killed >= 1
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE_S", 0.0)
    time.sleep(0.05)
    store.ping()  # would raise OperationalError had the dead connection been handed out
