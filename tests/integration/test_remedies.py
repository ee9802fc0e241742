"""A remedy is only as good as the run it produces: apply the first remedy of
three classic failures, rerun them through a real worker, and they are healthy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gradatlas.service.contracts.queue import CeleryEnqueue
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.contracts.spec import apply_merge_patch as merge_patch
from gradatlas.service.jobs.submit import publish

from tests.support import service_env, wait_for, worker_process


def _spec(activation: str, depth: int, weight_var: float, bias_mean: float = 0.0) -> dict[str, Any]:
    return {"model": {"arch": "mlp", "depth": depth, "width": 64, "activation": activation,
                      "init": {"scheme": "normal", "weight_var": weight_var, "bias_mean": bias_mean}},
            "data": {"input_dim": 64, "samples": 256, "batch_size": 128}, "training": {"steps": 2}, "probe": {"every": 1}}


SICK = {
    "deep-sigmoid": (_spec("sigmoid", 20, 1.0), "vanishing"),
    "dead-relu": (_spec("relu", 20, 2.0, bias_mean=-1.0), "vanishing"),
    "exploding-tanh": (_spec("tanh", 60, 4.0), "exploding"),
}


def _run_all(store: Any, enqueue: CeleryEnqueue, specs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ids = {}
    for name, body in specs.items():
        experiment = store.create_experiment(ExperimentSpec.model_validate(body), "alice", "cpu")
        assert publish(experiment.id, "cpu", store, enqueue)
        ids[name] = experiment.id

    def finished() -> dict[str, Any] | None:
        got = {name: store.get_experiment(i) for name, i in ids.items()}
        return got if all(e.status in ("succeeded", "failed", "cancelled") for e in got.values()) else None

    return wait_for(finished, timeout=180, interval=0.25, what="the experiments to finish")


@pytest.mark.timeout(400)
def test_the_first_remedy_makes_each_classic_failure_healthy(store, settings, tmp_path: Path) -> None:
    env = service_env(settings.home, settings.database_url, settings.broker_url, heartbeat_interval_s=0.5)
    enqueue = CeleryEnqueue(settings)
    with worker_process(env, tmp_path / "worker.log"):
        sick = _run_all(store, enqueue, {name: body for name, (body, _) in SICK.items()})
        for name, (_, verdict) in SICK.items():
            assert sick[name].status == "succeeded", (sick[name].error, (tmp_path / "worker.log").read_text()[-3000:])
            assert sick[name].summary["verdict"] == verdict, name
        patched = {name: merge_patch(sick[name].spec, sick[name].summary["remedies"][0]["patch"]) for name in SICK}
        cured = _run_all(store, enqueue, patched)
    for name in SICK:
        summary = cured[name].summary
        assert summary["verdict"] == "healthy", (name, sick[name].summary["remedies"][0], summary["signal_ratio_init"])
        assert summary["remedies"] == []
