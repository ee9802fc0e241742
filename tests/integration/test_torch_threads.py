"""A worker's torch thread count (worker/threads.py) reaches the process
that runs the experiment, whichever pool runs it: the count is recorded in
the experiment's environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gradatlas.service.contracts.queue import CeleryEnqueue
from gradatlas.service.jobs.submit import parse_spec, publish
from gradatlas.worker.threads import default_count

from tests.support import service_env, wait_for, worker_process

TRIVIAL = {"model": {"arch": "mlp", "depth": 2, "width": 8, "activation": "relu"}, "training": {"steps": 0}}


def _threads_of_a_run(store, settings, env: dict[str, str], log: Path, pool: str) -> int:  # type: ignore[no-untyped-def]
    experiment = store.create_experiment(parse_spec(TRIVIAL), "alice", "cpu")
    assert publish(experiment.id, "cpu", store, CeleryEnqueue(settings))
    with worker_process(env, log, pool=pool):
        done = wait_for(lambda: store.get_experiment(experiment.id).status == "succeeded" and store.get_experiment(experiment.id),
                        timeout=90, interval=0.2, what=f"the experiment:\n{log.read_text()[-3000:] if log.exists() else ''}")
    return int(done.environment["torch_threads"])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("pool", ["prefork", "solo", "threads"])
def test_the_configured_count_is_the_one_the_run_used(pool: str, store, settings, tmp_path: Path) -> None:
    wanted = (os.cpu_count() or 1) + 1  # neither torch's default nor the rule's: both are at most the core count
    env = service_env(settings.home, settings.database_url, settings.broker_url, torch_threads=wanted)
    assert _threads_of_a_run(store, settings, env, tmp_path / "worker.log", pool) == wanted


@pytest.mark.timeout(120)
def test_unset_the_worker_follows_the_default_rule(store, settings, tmp_path: Path) -> None:
    env = service_env(settings.home, settings.database_url, settings.broker_url)
    env.pop("OMP_NUM_THREADS", None)
    expected = default_count(len(os.sched_getaffinity(0)), processes=1)  # worker_process runs one pool process
    assert _threads_of_a_run(store, settings, env, tmp_path / "worker.log", "prefork") == expected
    assert "torch threads per pool process" in (tmp_path / "worker.log").read_text()
