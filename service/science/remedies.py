"""From diagnosis to prescription: ranked spec changes for an unhealthy run.

Each remedy is an RFC 7396 JSON merge patch to the experiment spec (a client
applies it and resubmits), a title saying what it does, and the predicted
effect. Predictions come from mean-field theory (service/theory.py) where it
applies: a plain `mlp` whose signal ratio over L hidden layers is
gain^(L−1), gain = √χ₁. The measured profile picks the cause-specific
remedies (dead ReLUs from a negative bias, saturated sigmoids, a diverged
run) and puts them first, because they address what was actually seen.

NumPy and the theory only: the service can recompute remedies without PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.science.theory import critical_weight_var, predict

Remedy = dict[str, Any]
MAX_REMEDIES = 5
DEAD = 0.9  # a layer with 90 % of its units dead (deep ReLU nets reach ~50 % by input correlation alone)
SATURATED = 0.5
RELU_LIKE = frozenset({"relu", "leaky_relu", "elu", "selu", "gelu", "silu", "softplus"})
# Xavier/Glorot keeps σ_w² = 1 on square layers: critical for tanh-like activations.
XAVIER_LIKE = frozenset({"tanh", "hardtanh", "identity"})


def suggest(spec: ExperimentSpec, summary: Mapping[str, Any], metrics: Mapping[str, np.ndarray] | None = None) -> list[Remedy]:
    """Ranked remedies for `summary["verdict"]`; empty when it is `healthy`."""
    verdict = summary.get("verdict")
    if verdict not in ("vanishing", "exploding", "diverged"):
        return []
    metrics = metrics or {}
    found: list[Remedy] = []
    if verdict == "diverged":
        found += _diverged(spec, metrics)
    if spec.model.arch == "mlp":
        saturated = _deep_layers(metrics, "saturated_fraction") >= SATURATED
        found += _dead_relu(spec, metrics) + (_saturated(spec, True) if saturated else [])
        found += _edge_of_chaos(spec) + _matching_scheme(spec) + _saturated(spec, False) + _residual(spec)
    elif verdict != "diverged":
        found += _normalise(spec)
    if verdict == "exploding":
        found += _diverged(spec, metrics)
    # a remedy theory expects to leave the net unhealthy goes last (stable: causes stay first)
    found.sort(key=lambda r: r["predicted"].get("verdict", "healthy") != "healthy")
    return _unique(found)[:MAX_REMEDIES]


def _remedy(title: str, patch: dict[str, Any], predicted: dict[str, Any] | None = None) -> Remedy:
    return {"title": title, "patch": patch, "predicted": predicted or {}}


def _hidden(spec: ExperimentSpec) -> int:
    return spec.model.depth


def _predicted_ratio(activation: str, weight_var: float, bias_var: float, n_hidden: int) -> dict[str, Any]:
    """Mean-field signal ratio over the hidden layers, with the verdict it implies."""
    theory = predict(activation, weight_var, bias_var)
    ratio = theory.gain ** (n_hidden - 1) if theory.chi1 > 0 else 0.0
    ratio = ratio if math.isfinite(ratio) else math.inf
    verdict = "vanishing" if ratio < 1e-3 else "exploding" if ratio > 1e3 else "healthy"
    return {"chi1": _round(theory.chi1), "signal_ratio_init": _round(ratio) if math.isfinite(ratio) else None, "verdict": verdict}


def _bias_var(spec: ExperimentSpec) -> float:
    return spec.model.init.bias_var if spec.model.bias else 0.0


def _edge_of_chaos(spec: ExperimentSpec) -> list[Remedy]:
    """σ_w² with χ₁ = 1 for this activation and σ_b²: the signal neither grows nor decays."""
    m = spec.model
    critical = critical_weight_var(m.activation, _bias_var(spec))
    if critical is None:
        return []
    weight_var = _round(critical)
    patch: dict[str, Any] = {"model": {"init": {"scheme": "normal", "weight_var": weight_var, "bias_mean": 0.0}}}
    return [_remedy(f"Initialise at the edge of chaos: weight_var {weight_var:g} makes χ₁ = 1 for {m.activation}",
                    patch, _predicted_ratio(m.activation, critical, _bias_var(spec), _hidden(spec)))]


def _matching_scheme(spec: ExperimentSpec) -> list[Remedy]:
    """Kaiming for ReLU-like activations (σ_w² = 2), Xavier for tanh-like (σ_w² = 1)."""
    m = spec.model
    if m.activation in ("relu", "leaky_relu") and m.init.scheme != "kaiming_normal":
        return [_remedy(f"Use Kaiming (He) initialisation, weight variance 2/fan_in, made for {m.activation}",
                        {"model": {"init": {"scheme": "kaiming_normal", "gain": None, "bias_mean": 0.0}}},
                        _predicted_ratio(m.activation, 2.0, _bias_var(spec), _hidden(spec)))]
    if m.activation in XAVIER_LIKE and m.init.scheme != "xavier_normal":
        return [_remedy("Use Xavier (Glorot) initialisation, weight variance 1 on square layers",
                        {"model": {"init": {"scheme": "xavier_normal", "gain": None, "bias_mean": 0.0}}},
                        _predicted_ratio(m.activation, 1.0, _bias_var(spec), _hidden(spec)))]
    return []


def _deep_layers(metrics: Mapping[str, np.ndarray], name: str) -> float:
    """The largest value of `name` over the hidden layers at initialisation (0 if not recorded)."""
    values = metrics.get(name)
    if values is None or len(values) == 0 or values.shape[1] < 2:
        return 0.0
    row = np.nan_to_num(np.asarray(values[0][:-1], dtype=np.float64))
    return float(row.max())


def _dead_relu(spec: ExperimentSpec, metrics: Mapping[str, np.ndarray]) -> list[Remedy]:
    """Units that never fire pass no gradient: a negative bias kills whole layers."""
    m = spec.model
    if m.activation not in RELU_LIKE or _deep_layers(metrics, "dead_fraction") < DEAD:
        return []
    weight_var = m.init.weight_var if m.init.scheme == "normal" else 2.0
    found = []
    if m.init.bias_mean < 0 and m.init.scheme != "default":
        found.append(_remedy("Zero the biases: a negative bias_mean switches ReLU units off for every input",
                             {"model": {"init": {"bias_mean": 0.0}}},
                             _predicted_ratio(m.activation, weight_var, _bias_var(spec), _hidden(spec))))
    if m.activation != "leaky_relu":
        found.append(_remedy("Use leaky_relu: a unit below zero still passes 1 % of the gradient",
                             {"model": {"activation": "leaky_relu"}}))
    return found


def _saturated(spec: ExperimentSpec, measured: bool) -> list[Remedy]:
    """Sigmoid's derivative is at most 1/4 and vanishes when saturated: tanh is centred and
    reaches 1; smaller inputs keep the first layers out of the flat tails."""
    m = spec.model
    if m.activation != "sigmoid":
        return []
    found = [_remedy("Use tanh at its critical weight_var 1: zero-centred, derivative up to 1 instead of 1/4",
                     {"model": {"activation": "tanh", "init": {"scheme": "normal", "weight_var": 1.0, "bias_mean": 0.0}}},
                     _predicted_ratio("tanh", 1.0, _bias_var(spec), _hidden(spec)))]
    if measured and spec.data.input_std > 0.1:
        found.append(_remedy("Shrink the inputs (input_std ÷ 10) so the first layers leave the sigmoid's flat tails",
                             {"data": {"input_std": _round(spec.data.input_std / 10)}}))
    return found


def _residual(spec: ExperimentSpec) -> list[Remedy]:
    """A deep plain stack: the identity path of a pre-norm residual net carries the gradient."""
    if spec.model.depth < 10:
        return []
    return [_remedy("Add skip connections: a pre-norm resmlp with layernorm carries the gradient along its identity path",
                    {"model": {"arch": "resmlp", "norm": "layernorm", "norm_position": "pre"}})]


def _normalise(spec: ExperimentSpec) -> list[Remedy]:
    m = spec.model
    if m.arch == "rnn":
        if m.cell == "rnn":
            return [_remedy("Use a gated cell (lstm): its additive cell state carries the gradient through time",
                            {"model": {"cell": "lstm"}}),
                    _remedy("Initialise the recurrent weights orthogonal with gain 1: ‖W_hh‖ = 1 neither shrinks nor grows h_t",
                            {"model": {"init": {"recurrent": {"scheme": "orthogonal", "gain": 1.0}}}})]
        return []
    if m.norm == "none":
        return [_remedy("Add layernorm: each layer's input is renormalised, so the signal scale cannot drift with depth",
                        {"model": {"norm": "layernorm"}})]
    return []


def _diverged(spec: ExperimentSpec, metrics: Mapping[str, np.ndarray]) -> list[Remedy]:
    """Clip at the gradient norm the run started with (read from the profile), or lower lr."""
    found = []
    total = _initial_gradient_norm(metrics)
    if total is not None and spec.training.clip_norm is None:
        found.append(_remedy(f"Clip the gradient norm at {total:g}, the norm measured at the first recorded step",
                             {"training": {"clip_norm": total}}))
    if spec.training.lr > 0:
        found.append(_remedy(f"Lower the learning rate ten-fold, to {_round(spec.training.lr / 10):g}",
                             {"training": {"lr": _round(spec.training.lr / 10)}}))
    return found


def _initial_gradient_norm(metrics: Mapping[str, np.ndarray]) -> float | None:
    """‖∇L‖ over every weight and bias at the first recorded step, when finite and non-zero."""
    parts = [np.asarray(metrics[name][0], dtype=np.float64) for name in ("grad_norm", "bias_grad_norm")
             if name in metrics and len(metrics[name])]
    if not parts:
        return None
    total = float(np.sqrt(sum(np.sum(p**2) for p in parts)))
    return _round(total) if math.isfinite(total) and total > 0 else None


def _round(value: float, digits: int = 4) -> float:
    """Significant digits: a patch value people read and type."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def _unique(remedies: list[Remedy]) -> list[Remedy]:
    seen, out = set(), []
    for remedy in remedies:
        key = repr(remedy["patch"])
        if key not in seen:
            seen.add(key)
            out.append(remedy)
    return out
