"""update_ratio read from the optimiser's own update (worker/engine/updates.py)
equals the snapshot difference W_before − W_after it replaces."""

from __future__ import annotations

from typing import Any

import gradatlas.worker.engine.train as train
import numpy as np
import pytest
import torch
from gradatlas.worker.engine import run_experiment
from gradatlas.worker.engine.updates import known_update_norms

from .specs import make_spec

CASES = {
    "sgd": {"optimizer": "sgd"},
    "sgd clip_norm": {"optimizer": "sgd", "clip_norm": 0.05},
    "sgd clip_value": {"optimizer": "sgd", "clip_value": 0.001},
    "momentum": {"optimizer": "momentum"},
    "momentum weight_decay": {"optimizer": "sgd", "momentum": 0.5, "weight_decay": 0.1},
}


def profile(training: dict[str, Any], dtype: str) -> np.ndarray:
    spec = make_spec({"model": {"depth": 4, "width": 32}, "dtype": dtype, "probe": {"every": 1},
                      "training": {"steps": 6, "lr": 0.1, **training}})
    return run_experiment(spec).metrics["update_ratio"]


def spy_on_the_fast_path(patch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls of the update-norm function that `known_update_norms`
    gives the run; a run that fell back to the snapshot leaves the count at 0
    (and the comparison below would then compare the snapshot with itself)."""
    calls = [0]

    def spying(*args: Any, **kwargs: Any) -> Any:
        fast = known_update_norms(*args, **kwargs)
        if fast is None:
            return None

        def counted(*inner: Any) -> Any:
            calls[0] += 1
            return fast(*inner)
        return counted

    patch.setattr(train, "known_update_norms", spying)
    return calls


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("case", list(CASES))
def test_the_optimisers_update_equals_the_snapshot_difference(case: str, dtype: str, rtol: float,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        calls = spy_on_the_fast_path(patch)
        read = profile(CASES[case], dtype)
    assert calls[0] == 6  # the fast path gave every recorded step's update (steps 0-5)
    with monkeypatch.context() as patch:
        patch.setattr(train, "known_update_norms", lambda *_, **__: None)  # force the snapshot path
        measured = profile(CASES[case], dtype)
    assert np.all(measured > 0)
    np.testing.assert_allclose(read, measured, rtol=rtol)


@pytest.mark.parametrize("make,dtype", [
    (lambda p: torch.optim.Adam(p), torch.float32),
    (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), torch.float32),
    (lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01), torch.float32),  # d mixes in W_before
    (lambda p: torch.optim.SGD(p, lr=0.1), torch.bfloat16),  # rounding is the story: snapshot
])
def test_updates_that_are_not_kept_take_the_snapshot(make: Any, dtype: torch.dtype) -> None:
    assert known_update_norms(make([torch.nn.Parameter(torch.ones(2))]), dtype, clipped=False) is None
