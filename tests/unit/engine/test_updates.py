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


def profile(training: dict[str, Any], dtype: str, monkeypatch: pytest.MonkeyPatch | None = None) -> np.ndarray:
    if monkeypatch is not None:  # force the snapshot path
        monkeypatch.setattr(train, "known_update_norms", lambda *_, **__: None)
    spec = make_spec({"model": {"depth": 4, "width": 32}, "dtype": dtype, "probe": {"every": 1},
                      "training": {"steps": 6, "lr": 0.1, **training}})
    return run_experiment(spec).metrics["update_ratio"]


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("case", list(CASES))
def test_the_optimisers_update_equals_the_snapshot_difference(case: str, dtype: str, rtol: float,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    read = profile(CASES[case], dtype)
    with monkeypatch.context() as patch:
        measured = profile(CASES[case], dtype, patch)
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
