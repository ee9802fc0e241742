"""Every arch, activation, init scheme and data set runs end to end through a
real worker process: the full product, one test item per combination.

That is 5 archs × the data sets each reads (20 arch/data pairs) × 11
activations × 10 init schemes = 2200 runs. The other axes (rnn cells, norms
and norm positions, optimisers, losses, dtypes, clipping, weight decay) are
cycled along the product, so every value of each appears on every arch that
has it. All runs are submitted at once to one real `celery worker` and must
each succeed with a well-formed profile. Sizes are tiny (a run is tens of
milliseconds of PyTorch) so that the whole product stays cheap enough for CI.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gradatlas.service.contracts.queue import CeleryEnqueue
from gradatlas.service.contracts.resources import Profile
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.contracts.spec import ARCH_DATA, ARCHS, Activation, InitScheme, Loss, Optimizer
from gradatlas.service.jobs.submit import parse_spec, publish
from gradatlas.service.science.analysis import summarise
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.tables import ExperimentRow
from sqlalchemy import func, select

from tests.support import (
    SERVICES_BROKER_URL,
    SERVICES_DATABASE_URL,
    fresh_broker,
    fresh_database,
    migrated_settings,
    service_env,
    wait_for,
    worker_process,
)

ACTIVATIONS = list(Activation.__args__)  # type: ignore[attr-defined]
SCHEMES = list(InitScheme.__args__)  # type: ignore[attr-defined]
OPTIMIZERS = list(Optimizer.__args__)  # type: ignore[attr-defined]
LOSSES = list(Loss.__args__)  # type: ignore[attr-defined]
NORMED_ARCHS = ["resmlp", "cnn", "transformer"]
NORMS = ["batchnorm", "layernorm", "none"]
CELLS = ["rnn", "lstm", "gru"]
DTYPES = ["float32", "float64", "bfloat16"]

COMBINATIONS = [(arch, data, activation, scheme) for arch in ARCHS for data in sorted(ARCH_DATA[arch])
                for activation in ACTIVATIONS for scheme in SCHEMES]
TERMINAL = ("succeeded", "failed", "cancelled")
STEPS = 2  # one optimiser step between two recorded steps
# A run here is milliseconds of work: a second torch thread per pool process
# mostly spins waiting for the other (runs here were 2-80 times slower with two
# threads than with one, on a busy 2-core machine).
ONE_TORCH_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def smoke_specs() -> list[dict[str, Any]]:
    return [_one(i, *combination) for i, combination in enumerate(COMBINATIONS)]


def _one(i: int, arch: str, data_name: str, activation: str, scheme: str) -> dict[str, Any]:
    """Combination i, with value i (cyclically) of every other axis; tiny sizes.

    Axes of the same period would always move together (batchnorm only ever
    in float32), so the dtype and the norm position cycle on i // 3 instead.
    """
    model: dict[str, Any] = {"arch": arch, "depth": 2, "width": 4, "activation": activation, "heads": 2,
                             "init": {"scheme": scheme}}
    if arch == "rnn":
        model["cell"] = CELLS[i % 3]
        model["init"]["recurrent"] = {"scheme": "orthogonal", "gain": 1.1}
    elif arch in NORMED_ARCHS:
        model.update(norm=NORMS[i % 3], norm_position=["pre", "post"][i // 3 % 2])
    data: dict[str, Any] = {"name": data_name, "samples": 16, "batch_size": 8, "seq_len": 3}
    if data_name in ("gaussian", "teacher", "sequence", "tokens"):
        data["input_dim"] = 9  # a 3 × 3 image for the CNN
    training = {"steps": STEPS, "optimizer": OPTIMIZERS[i % len(OPTIMIZERS)], "loss": LOSSES[i % 2],
                "clip_norm": 1.0 if i % 2 else None, "clip_value": 0.5 if i % 3 == 0 else None,
                "weight_decay": 0.01 * (i % 2)}
    return {"name": f"smoke-{'-'.join((arch, data_name, activation, scheme))}", "model": model, "data": data,
            "dtype": DTYPES[i // 3 % 3], "training": training, "probe": {"every": 1}}


def test_the_smoke_specs_are_the_full_product_and_cover_every_other_axis() -> None:
    specs = [parse_spec(body) for body in smoke_specs()]  # all accepted by the API's own checks
    pairs = [(arch, data) for arch, names in ARCH_DATA.items() for data in names]
    assert sorted((s.model.arch, s.data.name, s.model.activation, s.model.init.scheme) for s in specs) == sorted(
        (*pair, activation, scheme) for pair, activation, scheme in itertools.product(pairs, ACTIVATIONS, SCHEMES))
    for arch in ARCHS:
        on_arch = [s for s in specs if s.model.arch == arch]
        assert {s.training.optimizer for s in on_arch} == set(OPTIMIZERS), arch
        assert {s.training.loss for s in on_arch} == set(LOSSES), arch
        assert {s.dtype for s in on_arch} == set(DTYPES), arch
        assert {(s.training.clip_norm, s.training.clip_value) for s in on_arch} == {
            (norm, value) for norm in (None, 1.0) for value in (None, 0.5)}, arch
        assert {s.training.weight_decay for s in on_arch} == {0.0, 0.01}, arch
    rnns = [s for s in specs if s.model.arch == "rnn"]
    assert {(s.model.cell, s.dtype) for s in rnns} == set(itertools.product(CELLS, DTYPES))
    assert all(s.model.init.recurrent is not None for s in rnns)
    for arch in NORMED_ARCHS:
        assert {(s.model.norm, s.model.norm_position, s.dtype) for s in specs if s.model.arch == arch} == set(
            itertools.product(NORMS, ["pre", "post"], DTYPES)), arch


def theory_verdict(profile: Profile) -> str:
    """What mean-field theory says of a depth-2 net (docs/science.md): the ratio of
    the input-side to the output-side signal is one block's backward gain, √χ₁
    with χ₁ = σ_w² E[φ'²] of order one for every scheme here (an RNN's, over its
    3 time steps, ρ² = 1.1² times φ' factors): nowhere near the thresholds 1e-3
    and 1e3 that take some tens of such layers to reach, so `healthy`
    (measured: 0.026 to 204 over all 2200), unless the run produced a
    non-finite value, which is `diverged`."""
    values = [profile.loss, *(row for rows in profile.metrics.values() for row in rows)]
    return "diverged" if any(v is None for row in values for v in row) else "healthy"


@dataclass
class SmokeRun:
    store: Store
    ids: dict[int, str]  # COMBINATIONS index -> experiment id, for the selected items
    worker_log: Path


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[SmokeRun]:
    """A fresh database and broker, every selected combination submitted (all
    of them, unless `-k` picked a few), one real worker run until all are terminal."""
    selected = sorted(item.callspec.params["index"] for item in request.session.items
                      if getattr(item, "originalname", None) == "test_every_combination_runs_through_a_real_worker")
    tmp = tmp_path_factory.mktemp("smoke")
    with fresh_database(tmp, SERVICES_DATABASE_URL) as database_url:
        settings = migrated_settings(tmp / "home", database_url, fresh_broker(tmp, SERVICES_BROKER_URL))
        store = Store.from_url(database_url)
        try:
            yield SmokeRun(store, _run_all(store, settings, tmp / "worker.log", selected), tmp / "worker.log")
        finally:
            store.engine.dispose()


def _run_all(store: Store, settings: Settings, log: Path, indices: list[int]) -> dict[int, str]:
    # The SQLite broker is polled, every 0.1 s by default: longer than a run here.
    env = service_env(settings.home, settings.database_url, settings.broker_url, broker_polling_interval_s=0.01)
    env.update(ONE_TORCH_THREAD)
    enqueue = CeleryEnqueue(settings)
    # Started first, so that it runs the early ones while the rest are submitted.
    with worker_process(env, log, concurrency=2) as worker:
        specs, ids = smoke_specs(), {}
        for index in indices:
            experiment = store.create_experiment(parse_spec(specs[index]), "alice", "cpu")
            assert publish(experiment.id, "cpu", store, enqueue)
            ids[index] = experiment.id
        try:
            wait_for(lambda: _unfinished(store) == 0 or worker.poll() is not None, timeout=600, interval=1, what="every smoke run")
        except AssertionError:
            pass  # each unfinished experiment fails its own item, with its status
    return ids


def _unfinished(store: Store) -> int:
    """One query, not one per experiment: polling must not slow the worker down."""
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(ExperimentRow).where(ExperimentRow.status.not_in(TERMINAL))))


@pytest.mark.timeout(900)  # the first item's setup runs the whole product
@pytest.mark.parametrize("index", range(len(COMBINATIONS)), ids=["-".join(c) for c in COMBINATIONS])
def test_every_combination_runs_through_a_real_worker(smoke_run: SmokeRun, index: int) -> None:
    experiment = smoke_run.store.get_experiment(smoke_run.ids[index])
    assert experiment.status == "succeeded", (experiment.status, experiment.reason, experiment.error, experiment.spec,
                                              f"worker log: {smoke_run.worker_log}")
    profile = smoke_run.store.get_profile(experiment.id)
    assert profile.steps == list(range(STEPS)) and len(profile.layers) > 0
    assert all(len(row) == len(profile.layers) for row in profile.metrics["signal_norm"])
    recomputed = summarise(profile.steps, profile.loss, profile.accuracy, profile.metrics, n_hidden=len(profile.layers) - 1)
    assert experiment.summary["verdict"] == recomputed["verdict"] == theory_verdict(profile), experiment.summary
    if experiment.spec["model"]["arch"] == "rnn":
        assert all(len(row) == experiment.spec["data"]["seq_len"] for row in profile.metrics["time_signal_norm"])
