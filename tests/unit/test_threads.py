"""The rule for a worker's torch thread count (worker/threads.py)."""

from __future__ import annotations

import pydantic
import pytest
from gradatlas.service.contracts.settings import Settings
from gradatlas.worker import threads


@pytest.mark.parametrize(("cpus", "processes", "expected"), [
    (2, 1, 1),    # this project's small machine: one core left to PostgreSQL, Redis and the API
    (16, 1, 15),  # a lone GPU worker on a big node
    (16, 2, 7),
    (16, 4, 3),
    (4, 8, 1),    # more processes than cores: never below one
    (1, 1, 1),
])
def test_the_default_leaves_a_core_and_divides_the_rest(cpus: int, processes: int, expected: int) -> None:
    assert threads.default_count(cpus, processes) == expected


def test_unset_the_rule_counts_the_cores_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4, 5, 6, 7})  # as under taskset -c 0-7
    assert threads.choose(Settings(), processes=2)[0] == 3


def test_an_explicit_omp_num_threads_is_kept_and_the_setting_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads.choose(Settings(), processes=1) == (None, "OMP_NUM_THREADS")
    assert threads.choose(Settings(torch_threads=2), processes=1) == (2, "GRADATLAS_TORCH_THREADS")


def test_the_setting_is_read_from_the_environment_and_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADATLAS_TORCH_THREADS", "6")
    assert Settings().torch_threads == 6
    monkeypatch.setenv("GRADATLAS_TORCH_THREADS", "0")
    with pytest.raises(pydantic.ValidationError):
        Settings()
