"""Remedies from summaries and measured profiles, without PyTorch: the
cause the profile shows comes first, theory predicts the effect."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.contracts.spec import apply_merge_patch as merge_patch
from gradatlas.service.science.remedies import suggest


def spec(model: dict[str, Any], **rest: Any) -> ExperimentSpec:
    base = {"arch": "mlp", "depth": 20, "width": 64}
    return ExperimentSpec.model_validate({"model": {**base, **model}, **rest})


def profile(n_layers: int = 21, **rows: float) -> dict[str, np.ndarray]:
    return {name: np.full((1, n_layers), value) for name, value in rows.items()}


def test_healthy_gets_none() -> None:
    assert suggest(spec({"activation": "sigmoid"}), {"verdict": "healthy"}) == []


def test_vanishing_sigmoid_is_sent_to_the_edge_of_chaos_first() -> None:
    remedies = suggest(spec({"activation": "sigmoid", "init": {"scheme": "normal", "weight_var": 1.0}}),
                       {"verdict": "vanishing"}, profile(dead_fraction=0.0, saturated_fraction=0.0))
    first = remedies[0]
    assert first["patch"]["model"]["init"]["weight_var"] == pytest.approx(103.0, rel=1e-3)
    assert first["predicted"] == {"chi1": pytest.approx(1.0), "signal_ratio_init": pytest.approx(1.0), "verdict": "healthy"}
    assert any(r["patch"]["model"].get("activation") == "tanh" for r in remedies)
    assert not any("data" in r["patch"] for r in remedies)  # not saturated: inputs are not the cause


def test_saturated_sigmoid_offers_smaller_inputs_first() -> None:
    remedies = suggest(spec({"activation": "sigmoid"}, data={"input_std": 5.0}), {"verdict": "vanishing"},
                       profile(dead_fraction=0.0, saturated_fraction=0.9))
    assert remedies[0]["patch"]["model"]["activation"] == "tanh"
    assert {"data": {"input_std": 0.5}} in [r["patch"] for r in remedies]


def test_dead_relus_from_a_negative_bias_get_zero_bias_first() -> None:
    s = spec({"activation": "relu", "init": {"scheme": "normal", "weight_var": 2.0, "bias_mean": -1.0}})
    remedies = suggest(s, {"verdict": "vanishing"}, profile(dead_fraction=1.0))
    assert remedies[0]["patch"] == {"model": {"init": {"bias_mean": 0.0}}}
    assert remedies[0]["predicted"]["verdict"] == "healthy"
    assert remedies[1]["patch"] == {"model": {"activation": "leaky_relu"}}


def test_a_change_theory_expects_to_fail_is_ranked_last() -> None:
    """Zeroing the bias of a ReLU net at σ_w² = 1 leaves χ₁ = ½ (0.707^29 ≈ 4e-5 over 30 layers): it goes after the re-initialisations."""
    s = spec({"activation": "relu", "depth": 30, "init": {"scheme": "normal", "weight_var": 1.0, "bias_mean": -1.0}})
    remedies = suggest(s, {"verdict": "vanishing"}, profile(dead_fraction=1.0))
    patches = [r["patch"] for r in remedies]
    zero_bias = patches.index({"model": {"init": {"bias_mean": 0.0}}})
    edge = patches.index({"model": {"init": {"scheme": "normal", "weight_var": 2.0, "bias_mean": 0.0}}})
    assert edge < zero_bias and remedies[zero_bias]["predicted"]["verdict"] == "vanishing"


def test_diverged_clips_at_the_measured_norm() -> None:
    metrics = {"grad_norm": np.array([[3.0, 4.0], [np.inf, np.nan]]), "bias_grad_norm": np.array([[0.0, 12.0], [1.0, 1.0]])}
    remedies = suggest(spec({"activation": "identity"}, training={"lr": 5.0}), {"verdict": "diverged"}, metrics)
    assert remedies[0]["patch"] == {"training": {"clip_norm": 13.0}}  # √(9 + 16 + 144)
    assert remedies[1]["patch"] == {"training": {"lr": 0.5}}


def test_vanishing_rnn_gets_a_gated_cell() -> None:
    s = spec({"arch": "rnn", "activation": "tanh"}, data={"name": "sequence"})
    assert suggest(s, {"verdict": "vanishing"})[0]["patch"] == {"model": {"cell": "lstm"}}


def test_merge_patch_follows_rfc_7396() -> None:
    target = {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": 3}
    assert merge_patch(target, {"a": {"b": None, "x": 5}, "d": [3], "e": None}) == {"a": {"c": 2, "x": 5}, "d": [3]}
    assert target == {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": 3}  # not mutated
