"""run_experiment as the worker sees it: schedule, determinism, verdicts, numerics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gradatlas.service.contracts.spec import ALL_METRICS
from gradatlas.worker.engine import RunResult, run_experiment

from .specs import make_spec


def assert_same_profile(a: RunResult, b: RunResult) -> None:
    assert a.steps == b.steps and a.layers == b.layers
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.accuracy, b.accuracy)
    assert list(a.metrics) == list(b.metrics)
    for m in a.metrics:
        np.testing.assert_array_equal(a.metrics[m], b.metrics[m], err_msg=m)


def test_result_shape_and_layers() -> None:
    result = run_experiment(make_spec({"training": {"steps": 7}, "probe": {"every": 3}}))
    assert result.steps == [0, 3, 6]
    assert [layer["name"] for layer in result.layers] == ["hidden.0", "hidden.1", "hidden.2", "readout"]
    assert result.layers[0] == {"index": 0, "name": "hidden.0", "kind": "linear", "shape": [8, 6]}
    assert result.layers[-1]["shape"] == [3, 8]
    assert list(result.metrics) == [m for m in ALL_METRICS if m != "time_signal_norm"]  # no time axis in an mlp
    assert all(v.shape == (3, 4) and v.dtype == np.float64 for v in result.metrics.values())
    assert len(result.loss) == len(result.accuracy) == 3
    assert result.environment == {"torch": result.environment["torch"], "device": "cpu", "dtype": "float32"}
    json.dumps(result.summary, allow_nan=False)


def test_last_step_is_always_recorded() -> None:
    assert run_experiment(make_spec({"training": {"steps": 25}, "probe": {"every": 10}})).steps == [0, 10, 20, 24]


def test_steps_zero_is_one_pass_without_update() -> None:
    calls: list[tuple[int, int]] = []
    result = run_experiment(make_spec({"training": {"steps": 0}}), on_step=lambda d, t: calls.append((d, t)))
    assert result.steps == [0]
    assert "update_ratio" not in result.metrics
    assert set(result.metrics) == set(ALL_METRICS) - {"update_ratio", "time_signal_norm"}
    assert calls == [(0, 0)]


def test_metric_narrowing_records_only_those() -> None:
    patch = {"training": {"steps": 4}, "probe": {"every": 2}}
    full = run_experiment(make_spec(patch))
    narrow = run_experiment(make_spec({**patch, "probe": {"every": 2, "metrics": ["signal_norm", "update_ratio"]}}))
    assert list(narrow.metrics) == ["signal_norm", "update_ratio"]
    for m in narrow.metrics:
        np.testing.assert_array_equal(narrow.metrics[m], full.metrics[m])


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"])
def test_same_seed_same_profile_other_seed_differs(optimizer: str) -> None:
    patch = {
        "model": {"norm": "batchnorm", "init": {"scheme": "kaiming_normal"}},
        "data": {"name": "teacher"},
        "training": {"steps": 9, "optimizer": optimizer, "lr": 0.05, "weight_decay": 1e-3, "clip_norm": 1.0},
        "probe": {"every": 4},
    }
    a, b = run_experiment(make_spec(patch)), run_experiment(make_spec(patch))
    assert_same_profile(a, b)
    other = run_experiment(make_spec({**patch, "seed": 1}))
    assert not np.array_equal(a.metrics["grad_norm"], other.metrics["grad_norm"])


def test_on_step_reports_every_step_and_its_exception_propagates() -> None:
    calls: list[tuple[int, int]] = []
    run_experiment(make_spec({"training": {"steps": 6}}), on_step=lambda d, t: calls.append((d, t)))
    assert calls == [(d, 6) for d in range(1, 7)]

    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        if done == 3:
            raise Cancelled

    with pytest.raises(Cancelled):
        run_experiment(make_spec({"training": {"steps": 6}}), on_step=cancel)


def test_deep_sigmoid_vanishes() -> None:
    spec = make_spec({
        "model": {"depth": 30, "width": 64, "activation": "sigmoid", "init": {"scheme": "normal", "weight_var": 1.0}},
        "data": {"input_dim": 32, "samples": 128, "batch_size": 64},
        "training": {"steps": 0},
    })
    summary = run_experiment(spec).summary
    assert summary["verdict"] == "vanishing"
    assert summary["signal_ratio_init"] < 1e-10
    assert 0.1 < summary["layer_gain_init"] < 0.4  # √χ₁ of sigmoid at σ_w² = 1 is about 0.23


def test_deep_linear_net_at_weight_var_4_diverges_in_float32() -> None:
    spec = make_spec({
        "model": {"depth": 200, "width": 32, "activation": "identity", "init": {"scheme": "normal", "weight_var": 4.0}},
        "data": {"input_dim": 32, "samples": 64, "batch_size": 32},
        "training": {"steps": 3},
        "dtype": "float32",
    })
    result = run_experiment(spec)
    first = result.summary["first_nonfinite"]
    assert result.summary["verdict"] == "diverged"
    assert result.steps == [0]  # stopped at the first non-finite loss
    # ×2 per layer: float32 overflows (3.4e38 ≈ 2^128) a little before layer 128
    assert first["step"] == 0 and first["metric"] in ("act_mean", "act_std") and 100 < first["layer"] < 135
    json.dumps(result.summary, allow_nan=False)


# float32 against float64 for the same 50-layer net, every probed norm of
# every layer: measured at most 9e-7 relative on CPU (a few float32 ulps, 2⁻²⁴
# ≈ 6e-8, through 50 layers), so 1e-5 leaves a tenfold margin and still
# refuses a norm a bfloat16 step or a lost scale would spoil (1e-3 and up).
FLOAT32_RTOL = 1e-5


def test_float32_underflow_reads_like_float64() -> None:
    """50 sigmoid layers at σ_w² = 1: an input-side signal near 1e-31, whose
    squares underflow in float32."""
    def run(dtype: str) -> RunResult:
        return run_experiment(make_spec({
            "model": {"depth": 50, "width": 64, "activation": "sigmoid", "init": {"scheme": "normal", "weight_var": 1.0}},
            "data": {"input_dim": 64, "samples": 64, "batch_size": 64},
            "training": {"steps": 0}, "dtype": dtype,
        }))

    f32, f64 = run("float32"), run("float64")
    assert 1e-36 < f64.metrics["signal_norm"][0, 0] < 1e-25
    for m in ("signal_norm", "grad_norm", "per_sample_grad_norm", "bias_grad_norm"):
        v32, v64 = f32.metrics[m][0], f64.metrics[m][0]  # every layer, the underflowing input side first
        assert v32[0] > 0, m
        np.testing.assert_allclose(v32, v64, rtol=FLOAT32_RTOL, atol=0, err_msg=m)


def test_divergence_between_recorded_steps_is_recorded_at_its_step() -> None:
    """The run stops at the first non-finite loss even when no probe was due there,
    and that step's row is what watching every step would have recorded."""
    patch = {
        "model": {"depth": 3, "width": 16, "activation": "identity", "init": {"scheme": "normal"}},
        "data": {"input_dim": 8, "samples": 256, "batch_size": 32},
        "training": {"steps": 200, "lr": 5.0, "loss": "mse"},
    }
    calls: list[int] = []
    sparse = run_experiment(make_spec({**patch, "probe": {"every": 100}}), on_step=lambda d, t: calls.append(d))
    dense = run_experiment(make_spec({**patch, "probe": {"every": 1}}))
    bad = dense.steps[-1]
    assert 0 < bad < 100 and not np.isfinite(dense.loss[-1]) and np.all(np.isfinite(dense.loss[:-1]))
    assert sparse.steps == [0, bad]
    assert sparse.summary["verdict"] == "diverged" and sparse.summary["first_nonfinite"]["step"] == bad
    assert sparse.summary["first_nonfinite"] == dense.summary["first_nonfinite"]
    for m in sparse.metrics:
        np.testing.assert_array_equal(sparse.metrics[m][-1], dense.metrics[m][-1], err_msg=m)
    assert calls == sorted(calls)  # progress never goes backwards during the re-run


@pytest.mark.parametrize("dtype", ["bfloat16", "float64"])
def test_other_dtypes_run(dtype: str) -> None:
    result = run_experiment(make_spec({"dtype": dtype, "training": {"steps": 3, "clip_value": 0.5}}))
    assert result.environment["dtype"] == dtype
    assert result.summary["verdict"] in ("healthy", "vanishing", "exploding")


def test_layers_without_bias_report_zero_bias_gradient() -> None:
    result = run_experiment(make_spec({"model": {"bias": False, "init": {"scheme": "orthogonal"}}}))
    assert np.all(result.metrics["bias_grad_norm"] == 0) and np.all(result.metrics["grad_norm"] > 0)


def test_a_cnn_on_non_square_images_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="perfect square"):
        run_experiment(make_spec({"model": {"arch": "cnn"}, "data": {"input_dim": 10}}))

