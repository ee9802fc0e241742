"""Reference checks: the engine's measurements at initialisation against
mean-field theory and the classic papers (docs/science.md).

All at `steps` 0, run in-process (no worker): depth 50, width 512, Gaussian
inputs of dimension 512, one batch of 256, float64, seeds 0–2. The slope
g = ln s_l − ln s_{l+1} of the back-propagated signal s_l = ‖∂L/∂z_l‖ is
fitted by least squares over hidden layers 10–45 (past the input transient
and clear of the read-out) and must equal ½ ln χ₁ within 0.03·|g| + 0.005.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pytest
import torch
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.science.theory import predict
from gradatlas.worker.engine import RunResult, run_experiment
from gradatlas.worker.engine.models import build_model

DEPTH, WIDTH, BATCH, SEEDS = 50, 512, 256, (0, 1, 2)
FIT = slice(10, 46)  # hidden layers 10 … 45
TABLE = [  # activation, σ_w², σ_b², χ₁, g = ½ ln χ₁
    ("tanh", 0.5, 0.0, 0.5000, -0.3466),
    ("tanh", 4.0, 0.0, 1.3627, +0.1547),
    ("relu", 1.0, 0.0, 0.5, -0.3466),
    ("relu", 3.0, 0.0, 1.5, +0.2027),
    ("sigmoid", 1.0, 0.0, 0.0557, -1.4437),
    ("sigmoid", 4.0, 0.0, 0.1716, -0.8813),
]


def spec(activation: str, weight_var: float, bias_var: float = 0.0, seed: int = 0, **model: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate({
        "model": {"arch": "mlp", "depth": model.pop("depth", DEPTH), "width": WIDTH, "activation": activation,
                  "init": {"scheme": "normal", "weight_var": weight_var, "bias_var": bias_var, **model}},
        "data": {"name": "gaussian", "input_dim": WIDTH, "classes": 10, "samples": BATCH, "batch_size": BATCH},
        "training": {"steps": 0}, "probe": {"metrics": ["signal_norm", "grad_norm", "dead_fraction"]},  # what these checks read
        "dtype": "float64", "device": "cpu", "seed": seed,
    })


@lru_cache(maxsize=32)
def measure(activation: str, weight_var: float, bias_var: float = 0.0, seed: int = 0) -> RunResult:
    return run_experiment(spec(activation, weight_var, bias_var, seed))


def backward_slope(signal: np.ndarray) -> float:
    """g: least-squares slope of ln s_l over the fit window, read from the
    output side towards the input (so a decaying signal has g < 0)."""
    layers = np.arange(DEPTH)[FIT]
    return float(-np.polyfit(layers, np.log(signal[FIT]), 1)[0])


@pytest.mark.parametrize("activation, weight_var, bias_var, chi1, g", TABLE, ids=[f"{a}-{w:g}" for a, w, *_ in TABLE])
def test_theory_chi1_matches_the_table(activation: str, weight_var: float, bias_var: float, chi1: float, g: float) -> None:
    theory = predict(activation, weight_var, bias_var)
    assert round(theory.chi1, 4) == pytest.approx(chi1, abs=1e-4)
    assert 0.5 * np.log(theory.chi1) == pytest.approx(g, abs=1e-4)


@pytest.mark.parametrize("activation, weight_var, bias_var, chi1, g", TABLE, ids=[f"{a}-{w:g}" for a, w, *_ in TABLE])
def test_signal_slope_matches_half_log_chi1(activation: str, weight_var: float, bias_var: float, chi1: float, g: float) -> None:
    tolerance = 0.03 * abs(g) + 0.005
    for seed in SEEDS:
        measured = backward_slope(measure(activation, weight_var, bias_var, seed).metrics["signal_norm"][0])
        assert measured == pytest.approx(g, abs=tolerance), f"seed {seed}: g = {measured:.4f}, theory {g:.4f} ± {tolerance:.4f}"


def test_relu_at_weight_var_1_vanishes_although_weight_gradients_are_flat() -> None:
    """Glorot & Bengio 2010, eq. 14: the forward factor grows as the backward one shrinks."""
    result = measure("relu", 1.0)
    grad, signal = result.metrics["grad_norm"][0][:DEPTH], result.metrics["signal_norm"][0][:DEPTH]
    assert result.summary["verdict"] == "vanishing" and result.summary["signal_ratio_init"] < 1e-6
    assert grad.max() / grad.min() < 3.0 < 1e6 < signal.max() / signal.min()  # flat, against 1e-7 for the signal
    assert 0.1 < result.summary["grad_ratio_init"] < 10
    assert "weight-gradient norms do not" in result.summary["note"]


def test_a_sigmoid_layer_divides_the_signal_by_four_unless_the_weights_are_large() -> None:
    """s_l / s_{l+1} ≤ max σ' · ‖W_{l+1}‖₂ = 0.25 ‖W_{l+1}‖₂, and at σ_w² = 16 the ratio
    itself is above 0.25: the bound is on the product, not on the derivative alone."""
    s = spec("sigmoid", 16.0, depth=10)
    signal = run_experiment(s).metrics["signal_norm"][0]
    norms = [torch.linalg.matrix_norm(lin.weight.detach(), ord=2).item() for lin in build_model(s).linears()]
    ratios = signal[:9] / signal[1:10]
    assert np.all(ratios <= 0.25 * np.array(norms[1:10]) * (1 + 1e-12))
    assert ratios.max() > 0.25


def test_relus_with_a_negative_bias_die_and_pass_exactly_nothing_below() -> None:
    """docs/science.md: with bias β < 0 whole layers die within a dozen layers; every
    gradient below the first dead layer is exactly 0."""
    result = run_experiment(spec("relu", 2.0, bias_mean=-1.0, depth=20))
    dead, grad, signal = (result.metrics[m][0] for m in ("dead_fraction", "grad_norm", "signal_norm"))
    first_dead = int(np.argmax(dead[:20] == 1.0))
    assert dead[first_dead] == 1.0 and first_dead < 15 and dead[15:20].min() > 0.9
    assert np.all(grad[:first_dead] == 0) and np.all(signal[: first_dead + 1] == 0)
    assert result.summary["verdict"] == "vanishing"


def test_tanh_at_weight_var_4_explodes_with_small_weights() -> None:
    """No weight is even 0.6 in size, yet χ₁ = 1.36 > 1 makes the signal explode."""
    model = build_model(spec("tanh", 4.0))
    assert max(lin.weight.abs().max().item() for lin in model.linears()) < 0.6
    assert measure("tanh", 4.0).summary["verdict"] == "exploding"


def test_same_spec_and_seed_give_an_identical_profile() -> None:
    first, second = run_experiment(spec("tanh", 4.0, seed=7, depth=12)), run_experiment(spec("tanh", 4.0, seed=7, depth=12))
    assert first.metrics.keys() == second.metrics.keys()
    for name in first.metrics:
        np.testing.assert_array_equal(first.metrics[name], second.metrics[name], err_msg=name)
    assert first.summary == second.summary
