"""Mean-field theory (service/theory.py) against closed forms, published values
and an independent Monte-Carlo estimate of the length map and of χ₁."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradatlas.service.science.theory import ACTIVATIONS, Theory, critical_weight_var, predict

# Activations and derivatives written out again here, independently of the module.
_ERF = np.vectorize(math.erf)
_A, _L = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _ERF(x / math.sqrt(2.0)))


PHI = {
    "identity": (lambda x: x, lambda x: np.ones_like(x)),
    "sigmoid": (_sig, lambda x: _sig(x) * (1 - _sig(x))),
    "tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2),
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), lambda x: np.where(x > 0, 1.0, 0.01)),
    "elu": (lambda x: np.where(x > 0, x, np.exp(np.minimum(x, 0)) - 1),
            lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))),
    "selu": (lambda x: _L * np.where(x > 0, x, _A * (np.exp(np.minimum(x, 0)) - 1)),
             lambda x: _L * np.where(x > 0, 1.0, _A * np.exp(np.minimum(x, 0)))),
    "gelu": (lambda x: x * _cdf(x), lambda x: _cdf(x) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)),
    "silu": (lambda x: x * _sig(x), lambda x: _sig(x) * (1 + x * (1 - _sig(x)))),
    "softplus": (lambda x: np.log1p(np.exp(x)), _sig),
    "hardtanh": (lambda x: np.clip(x, -1, 1), lambda x: (np.abs(x) < 1) * 1.0),
}


@pytest.mark.parametrize(("activation", "weight_var", "chi1"), [
    ("tanh", 0.5, 0.5000), ("tanh", 4.0, 1.3627),
    ("relu", 1.0, 0.5), ("relu", 3.0, 1.5),
    ("sigmoid", 1.0, 0.0557), ("sigmoid", 4.0, 0.1716),
])
def test_reference_chi1(activation: str, weight_var: float, chi1: float) -> None:
    t = predict(activation, weight_var, 0.0)
    assert t.chi1 == pytest.approx(chi1, abs=5e-5)  # i.e. rounds to the quoted digits
    assert t.gain == pytest.approx(math.sqrt(t.chi1))


@pytest.mark.parametrize("weight_var", [0.3, 1.0, 1.7, 2.0, 2.5, 6.0])
def test_relu_without_bias_is_half_weight_var(weight_var: float) -> None:
    # He et al. 2015: the kink at 0 must not bias the answer (docs/science.md, "Quadrature at a kink").
    assert predict("relu", weight_var).chi1 == weight_var / 2


def test_relu_fixed_point_with_bias_closed_form() -> None:
    assert predict("relu", 1.0, 0.5).q_star == pytest.approx(0.5 / (1 - 1.0 / 2), rel=1e-12)


def test_hardtanh_closed_form() -> None:
    # For x ~ N(0, q): P(|x| < 1) = erf(1/√(2q)); E[clip(x)²] = q(p − 2tφ(t)) + 1 − p, t = 1/√q.
    t = predict("hardtanh", 2.0, 0.1)
    s = 1 / math.sqrt(t.q_star)
    p = math.erf(s / math.sqrt(2))
    m2 = t.q_star * (p - 2 * s * math.exp(-s * s / 2) / math.sqrt(2 * math.pi)) + 1 - p
    assert 2.0 * m2 + 0.1 == pytest.approx(t.q_star, rel=1e-10)
    assert t.chi1 == pytest.approx(2.0 * p, rel=1e-10)


def test_selu_self_normalising_fixed_point() -> None:
    # The SELU constants make E[selu(z)²] = 1, so q* = 1 at σ_w² = 1, σ_b² = 0.
    assert predict("selu", 1.0).q_star == pytest.approx(1.0, abs=1e-9)


def test_selu_kink_at_zero_averages_both_slopes() -> None:
    # Small σ_w²: q* = 0 and χ₁ is the q → 0⁺ limit σ_w² λ²(1 + α²)/2, not one side's slope.
    t = predict("selu", 0.3)
    assert t.q_star == 0.0
    assert t.chi1 == pytest.approx(0.3 * _L**2 * (1 + _A**2) / 2, rel=1e-12)


@pytest.mark.parametrize(("activation", "weight_var", "bias_var"), [
    ("tanh", 4.0, 0.0), ("tanh", 1.5, 0.05), ("sigmoid", 1.0, 0.0), ("sigmoid", 4.0, 0.1),
    ("sigmoid", 103.0, 0.0),  # q* ≈ 50: φ' is a narrow peak on the scale of √q*
    ("relu", 1.0, 0.5), ("leaky_relu", 1.5, 0.1), ("elu", 1.5, 0.05), ("selu", 1.2, 0.1),
    ("gelu", 1.5, 0.1), ("silu", 2.0, 0.1), ("softplus", 1.0, 0.0), ("hardtanh", 2.0, 0.1),
])
def test_fixed_point_and_chi1_match_monte_carlo(activation: str, weight_var: float, bias_var: float) -> None:
    t = predict(activation, weight_var, bias_var)
    assert 0 < t.q_star < math.inf
    phi, dphi = PHI[activation]
    x = math.sqrt(t.q_star) * np.random.default_rng(0).standard_normal(400_000)
    assert weight_var * np.mean(phi(x) ** 2) + bias_var == pytest.approx(t.q_star, rel=0.02)
    assert weight_var * np.mean(dphi(x) ** 2) == pytest.approx(t.chi1, rel=0.03)


def test_unbounded_length_map_returns_inf_not_hang() -> None:
    t = predict("identity", 2.0)
    assert t.q_star == math.inf and t.chi1 == 2.0
    assert t.to_dict()["q_star"] is None  # JSON has no inf
    assert predict("relu", 2.0, 0.1).q_star == math.inf  # q grows by σ_b² per layer


def test_depth_scale() -> None:
    assert predict("relu", 1.0).depth_scale == pytest.approx(1 / math.log(2))
    assert predict("relu", 4.0).depth_scale == pytest.approx(-1 / math.log(2))  # negative: explodes
    assert predict("relu", 2.0).depth_scale is None  # critical: infinite
    assert predict("identity", 1.0).depth_scale is None
    assert predict("tanh", 0.0).depth_scale == 0.0


def test_critical_weight_var() -> None:
    assert critical_weight_var("relu") == pytest.approx(2.0, abs=1e-3)
    assert critical_weight_var("tanh", 0.0) == pytest.approx(1.0, abs=1e-3)
    assert critical_weight_var("identity", 0.3) == pytest.approx(1.0, abs=1e-3)
    assert predict("tanh", 4.0).critical_weight_var == critical_weight_var("tanh")


@pytest.mark.parametrize(("activation", "bias_var"), [
    ("sigmoid", 0.0), ("sigmoid", 0.1), ("tanh", 0.05), ("elu", 0.1), ("selu", 0.0),
    ("gelu", 1.0), ("hardtanh", 0.1),
])
def test_critical_weight_var_gives_chi1_of_one(activation: str, bias_var: float) -> None:
    w = critical_weight_var(activation, bias_var)
    assert w is not None
    assert predict(activation, w, bias_var).chi1 == pytest.approx(1.0, abs=1e-6)
    assert predict(activation, 0.9 * w, bias_var).chi1 < 1 < predict(activation, 1.1 * w, bias_var).chi1


def test_no_critical_weight_var_when_chi1_jumps_over_one() -> None:
    # GELU without bias: from q⁰ = 1 the map flips from q* = 0 to q* = ∞, χ₁ from σ_w²/4 to σ_w²/2.
    assert critical_weight_var("gelu", 0.0) is None
    assert predict("gelu", 2.0).chi1 == pytest.approx(0.5)
    assert predict("gelu", 3.0).chi1 == pytest.approx(1.5)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_gives_a_finite_answer(activation: str) -> None:
    for weight_var in (0.5, 2.0, 5.0):
        t = predict(activation, weight_var, 0.3)
        assert isinstance(t, Theory)
        assert 0 <= t.chi1 < math.inf and t.gain == pytest.approx(math.sqrt(t.chi1))
        assert set(t.to_dict()) == {"q_star", "chi1", "gain", "depth_scale", "critical_weight_var"}


@pytest.mark.parametrize(("call", "argument"), [
    (lambda: predict("swish", 1.0), "activation"),
    (lambda: predict(None, 1.0), "activation"),  # type: ignore[arg-type]
    (lambda: predict("tanh", -1.0), "weight_var"),
    (lambda: predict("tanh", float("nan")), "weight_var"),
    (lambda: predict("tanh", "big"), "weight_var"),  # type: ignore[arg-type]
    (lambda: predict("tanh", 1.0, -0.1), "bias_var"),
    (lambda: predict("tanh", 1.0, float("inf")), "bias_var"),
    (lambda: critical_weight_var("swish"), "activation"),
    (lambda: critical_weight_var("relu", -1.0), "bias_var"),
])
def test_bad_input_raises_value_error(call, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        call()
