"""run_batched equals run_experiment point by point: the same metrics,
losses and accuracies (to float tolerance) for every optimiser, loss,
clipping and data set a batch may hold; a diverging point is replayed alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gradatlas.service.jobs.batching import batch_key
from gradatlas.worker.engine import run_experiment
from gradatlas.worker.engine.batched import can_batch, run_batched

from .specs import make_spec

POINTS = [{"seed": 0}, {"seed": 1, "model": {"init": {"scheme": "normal", "weight_var": 2.0, "bias_var": 0.1}}},
          {"seed": 2, "training": {"lr": 0.05, "momentum": 0.5, "weight_decay": 1e-3}},
          {"seed": 0, "data": {"input_std": 3.0}, "model": {"init": {"scheme": "kaiming_uniform"}}}]


def _points(common: dict[str, Any]) -> list[Any]:
    merged = []
    for point in POINTS:
        patch = {key: {**common.get(key, {}), **point.get(key, {})} if isinstance(common.get(key), dict) else point.get(key, common.get(key))
                 for key in set(common) | set(point)}
        merged.append(make_spec(patch))
    return merged


def _assert_close(batched: Any, alone: Any, rtol: float) -> None:
    assert batched.steps == alone.steps and batched.layers == alone.layers
    np.testing.assert_allclose(batched.loss, alone.loss, rtol=rtol)
    np.testing.assert_allclose(batched.accuracy, alone.accuracy, rtol=rtol)
    assert list(batched.metrics) == list(alone.metrics)
    for name, values in alone.metrics.items():
        np.testing.assert_allclose(batched.metrics[name], values, rtol=rtol, atol=1e-12, err_msg=name)
    assert batched.summary["verdict"] == alone.summary["verdict"]


@pytest.mark.parametrize("common, rtol", [
    ({"dtype": "float64", "training": {"steps": 9}, "model": {"activation": "relu"}}, 1e-9),
    ({"dtype": "float64", "training": {"steps": 6, "optimizer": "nesterov"}, "model": {"activation": "sigmoid"}}, 1e-9),
    ({"dtype": "float64", "training": {"steps": 6, "optimizer": "adam", "loss": "mse", "clip_norm": 0.5}}, 1e-9),
    ({"dtype": "float64", "training": {"steps": 5, "optimizer": "adamw", "clip_value": 0.01}, "model": {"bias": False}}, 1e-9),
    ({"dtype": "float64", "training": {"steps": 0}}, 1e-9),
    ({"training": {"steps": 7, "optimizer": "momentum"}, "data": {"name": "teacher"}}, 2e-4),
    ({"training": {"steps": 4}, "data": {"name": "digits", "samples": 200, "input_dim": 64, "classes": 10}, "probe": {"every": 1, "metrics": ["signal_norm", "update_ratio"]}}, 2e-4),
])
def test_batched_points_equal_their_solo_runs(common, rtol):
    specs = _points(common)
    assert can_batch(specs)
    calls: list[tuple[int, int]] = []
    batched = run_batched(specs, on_step=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (specs[0].training.steps, specs[0].training.steps)
    for spec, result in zip(specs, batched, strict=True):
        assert result.environment["batched"] == len(specs)
        _assert_close(result, run_experiment(spec), rtol)


def test_a_point_that_diverges_is_replayed_alone_and_the_rest_stay_batched():
    specs = [make_spec({"model": {"activation": "identity", "init": {"scheme": "normal", "weight_var": var}},
                        "training": {"steps": 12, "lr": lr, "loss": "mse"}, "probe": {"every": 5}})
             for lr, var in ((1e-3, 1.0), (1e2, 4.0))]
    calm, wild = run_batched(specs)
    assert calm.environment.get("batched") == 2 and "batched" not in wild.environment
    solo = run_experiment(specs[1])
    assert wild.summary["verdict"] == solo.summary["verdict"] == "diverged" and wild.steps == solo.steps
    _assert_close(calm, run_experiment(specs[0]), 2e-4)


def test_only_same_shaped_points_batch():
    base = make_spec()
    assert batch_key(base) == batch_key(make_spec({"seed": 5, "training": {"lr": 0.3}}))
    for other in ({"model": {"depth": 4}}, {"training": {"optimizer": "adam"}}, {"probe": {"every": 3}}, {"data": {"batch_size": 8}}):
        assert batch_key(make_spec(other)) != batch_key(base)
    assert batch_key(make_spec({"model": {"norm": "layernorm"}})) is None
    assert batch_key(make_spec({"training": {"optimizer": "rmsprop"}})) is None
    assert not can_batch([base, make_spec({"model": {"width": 9}})])
    with pytest.raises(ValueError):
        run_batched([base, make_spec({"model": {"width": 9}})])
