"""Every arch, activation, init scheme and data set runs end to end through a
real worker process.

The full product (5 archs × 11 activations × 10 schemes × 9 data sets, less
the arch/data pairs that do not fit) is thousands of runs; this is a covering
set instead: every value of every axis (arch, activation, init scheme, data
set, and the rnn cells, norms, norm positions, optimisers, losses and dtypes)
appears at least once, each on a compatible arch. All are submitted at
once to one worker and must all succeed with a well-formed profile.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from service.experiments import parse_spec, publish
from service.queue import CeleryEnqueue
from service.spec import ARCH_DATA, Activation, InitScheme, Optimizer
from tests.support import service_env, wait_for, worker_process

ACTIVATIONS = list(Activation.__args__)  # type: ignore[attr-defined]
SCHEMES = list(InitScheme.__args__)  # type: ignore[attr-defined]
OPTIMIZERS = list(Optimizer.__args__)  # type: ignore[attr-defined]
ARCH_CYCLE = ["mlp", "resmlp", "cnn", "rnn", "transformer"]
NORMS = [{"norm": "batchnorm", "norm_position": "post"}, {"norm": "layernorm"}, {"norm": "none"}]
CELLS = ["rnn", "lstm", "gru"]
DTYPES = ["float32", "float64", "bfloat16"]


def _data_for(arch: str, wanted: str) -> str:
    return wanted if wanted in ARCH_DATA[arch] else sorted(ARCH_DATA[arch])[0]


def covering_set() -> list[dict[str, Any]]:
    """max(axis lengths) specs, spec i taking value i (cyclically) of every
    axis on the first arch (from i in ARCH_CYCLE) that reads its data set,
    then one rnn spec for each cell not yet covered."""
    data_names = sorted(set().union(*ARCH_DATA.values()))
    n = max(len(ACTIVATIONS), len(SCHEMES), len(data_names), len(OPTIMIZERS))
    specs = []
    for i in range(n):
        wanted = data_names[i % len(data_names)]
        arch = next(a for a in itertools.islice(itertools.cycle(ARCH_CYCLE), i, i + 5) if wanted in ARCH_DATA[a])
        specs.append(_one(i, wanted, arch))
    cells = {s["model"].get("cell") for s in specs if s["model"]["arch"] == "rnn"}
    return specs + [_one(n + k, "sequence", "rnn", cell) for k, cell in enumerate(c for c in CELLS if c not in cells)]


def _one(i: int, wanted: str, arch: str, cell: str | None = None) -> dict[str, Any]:
    """Spec i: value i (cyclically) of every axis, on `arch`; tiny sizes."""
    model: dict[str, Any] = {"arch": arch, "depth": 2, "width": 4, "activation": ACTIVATIONS[i % len(ACTIVATIONS)],
                             "heads": 2, "init": {"scheme": SCHEMES[i % len(SCHEMES)]}}
    if arch == "rnn":
        model["cell"] = cell or CELLS[i % 3]
        model["init"]["recurrent"] = {"scheme": "orthogonal", "gain": 1.1}
    elif arch != "mlp":
        model.update(NORMS[i % 3])
    data: dict[str, Any] = {"name": _data_for(arch, wanted), "samples": 32, "batch_size": 8, "seq_len": 3}
    if data["name"] in ("gaussian", "teacher", "sequence", "tokens"):
        data["input_dim"] = 9
    training = {"steps": 3, "optimizer": OPTIMIZERS[i % len(OPTIMIZERS)], "loss": ["cross_entropy", "mse"][i % 2],
                "clip_norm": 1.0 if i % 2 else None, "clip_value": 0.5 if i % 3 == 0 else None, "weight_decay": 0.01 * (i % 2)}
    return {"name": f"smoke-{i}", "model": model, "data": data, "dtype": DTYPES[i % 3], "training": training, "probe": {"every": 1}}


def test_the_covering_set_covers_every_value() -> None:
    specs = [parse_spec(body) for body in covering_set()]  # all accepted by the API's own checks
    assert {s.model.arch for s in specs} == set(ARCH_CYCLE)
    assert {s.model.activation for s in specs} == set(ACTIVATIONS)
    assert {s.model.init.scheme for s in specs} == set(SCHEMES)
    assert {s.data.name for s in specs} == set().union(*ARCH_DATA.values())
    assert {s.model.cell for s in specs if s.model.arch == "rnn"} == {"rnn", "lstm", "gru"}
    assert {s.training.optimizer for s in specs} == set(OPTIMIZERS) and {s.dtype for s in specs} == set(DTYPES)


@pytest.mark.timeout(300)
def test_every_combination_runs_through_a_real_worker(store, settings, tmp_path: Path) -> None:
    env = service_env(settings.home, settings.database_url, settings.broker_url, heartbeat_interval_s=0.5)
    enqueue = CeleryEnqueue(settings)
    ids = []
    for body in covering_set():
        experiment = store.create_experiment(parse_spec(body), "alice", "cpu")
        assert publish(experiment.id, "cpu", store, enqueue)
        ids.append(experiment.id)
    with worker_process(env, tmp_path / "worker.log"):
        wait_for(lambda: all(store.get_experiment(i).status in ("succeeded", "failed") for i in ids),
                 timeout=240, interval=0.5, what="every smoke experiment")
    for experiment_id in ids:
        experiment = store.get_experiment(experiment_id)
        assert experiment.status == "succeeded", (experiment.spec["model"], experiment.error)
        profile = store.get_profile(experiment_id)
        assert profile.steps == [0, 1, 2] and len(profile.metrics["signal_norm"][0]) == len(profile.layers)
        assert experiment.summary["verdict"] in ("healthy", "vanishing", "exploding", "diverged")
        if experiment.spec["model"]["arch"] == "rnn":
            assert len(profile.metrics["time_signal_norm"][0]) == experiment.spec["data"]["seq_len"]
