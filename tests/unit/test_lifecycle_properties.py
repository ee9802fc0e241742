"""A Hypothesis state machine over the store's lifecycle operations, in any
order and with duplicate deliveries: only legal transitions happen, terminal
states never change, at most one lease is live, attempts only grow."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from gradatlas.service.contracts.resources import Claim
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.migrate import upgrade
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from tests.support import SERVICES_DATABASE_URL, fresh_database

SPEC = ExperimentSpec.model_validate({"model": {"arch": "mlp", "depth": 1, "width": 2, "activation": "relu"}, "training": {"steps": 1}})
LEGAL = {("queued", "running"), ("queued", "cancelled"), ("running", "queued"), ("running", "succeeded"),
         ("running", "failed"), ("running", "cancelled")}
TERMINAL = {"succeeded", "failed", "cancelled"}
PROFILE = {"layers": [{"index": 0, "name": "l", "kind": "linear", "shape": [2, 2]}], "steps": [0], "loss": [1.0],
           "accuracy": [0.5], "metrics": {"grad_norm": np.ones((1, 1))}, "total_steps": 1}

_store: Store  # set by the module's fixture: the state machine runs outside pytest's fixtures


@pytest.fixture(scope="module", autouse=True)
def lifecycle_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One fresh database for every example, on the backend CI names (a
    PostgreSQL database of its own) or an embedded SQLite file."""
    global _store
    with fresh_database(tmp_path_factory.mktemp("lifecycle"), SERVICES_DATABASE_URL) as url:
        upgrade(url)
        _store = Store.from_url(url)
        try:
            yield _store
        finally:
            _store.engine.dispose()


class Lifecycle(RuleBasedStateMachine):
    experiments = Bundle("experiments")
    claims = Bundle("claims")

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, tuple[str, int]] = {}
        self.leases: dict[str, list[str]] = {}

    def _observe(self, experiment_id: str) -> None:
        experiment = _store.get_experiment(experiment_id)
        before = self.seen.get(experiment_id)
        if before is not None:
            status, attempt = before
            assert status == experiment.status or (status, experiment.status) in LEGAL, (status, experiment.status)
            assert not (status in TERMINAL and experiment.status != status)
            assert experiment.attempt >= attempt
        self.seen[experiment_id] = (experiment.status, experiment.attempt)

    @rule(target=experiments)
    def submit(self) -> str:
        experiment_id = _store.create_experiment(SPEC, "alice", "cpu").id
        self._observe(experiment_id)
        return experiment_id

    @rule(target=claims, experiment_id=experiments)
    def deliver(self, experiment_id: str) -> Claim | None:
        """A delivery, first or duplicate: claims only a queued row."""
        claim = _store.claim(experiment_id, {})
        if claim is not None:
            self.leases.setdefault(experiment_id, []).append(claim.lease)
        self._observe(experiment_id)
        return claim

    @rule(claim=claims)
    def heartbeat(self, claim: Claim | None) -> None:
        if claim is not None:
            _store.heartbeat(claim, 1, 1)
            self._observe(claim.experiment_id)

    @rule()
    def expire_everything_running(self) -> None:
        _store.recover(requeue_after_s=3600, stale_after_s=-1, max_attempts=3)
        for experiment_id in self.seen:
            self._observe(experiment_id)

    @rule(claim=claims)
    def complete(self, claim: Claim | None) -> None:
        if claim is not None:
            _store.complete(claim, PROFILE, {"verdict": "healthy"}, {})
            self._observe(claim.experiment_id)

    @rule(claim=claims, status=st.sampled_from(["failed", "cancelled"]))
    def finish(self, claim: Claim | None, status: str) -> None:
        if claim is not None:
            _store.finish(claim, status, "error" if status == "failed" else "cancelled")
            self._observe(claim.experiment_id)

    @rule(experiment_id=experiments)
    def cancel(self, experiment_id: str) -> None:
        try:
            _store.request_cancel(experiment_id)
        except Exception as exc:  # Conflict on finished experiments is the legal answer
            assert type(exc).__name__ == "Conflict"
        self._observe(experiment_id)

    @invariant()
    def at_most_one_live_lease_and_profiles_only_when_succeeded(self) -> None:
        for experiment_id, (status, _) in self.seen.items():
            experiment = _store.get_experiment(experiment_id)
            live = _lease(experiment_id)
            assert (experiment.status == "running") == (live is not None)
            assert sum(lease == live for lease in self.leases.get(experiment_id, [])) == (1 if live else 0)
            assert (_store.get_profile(experiment_id) is not None) == (status == "succeeded")


def _lease(experiment_id: str) -> str | None:
    from gradatlas.service.store.tables import ExperimentRow

    with _store.session() as session:
        return session.get_one(ExperimentRow, experiment_id).lease


Lifecycle.TestCase.settings = hypothesis_settings(max_examples=60, stateful_step_count=25, deadline=None)
TestLifecycle = Lifecycle.TestCase
