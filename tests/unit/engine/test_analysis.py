"""summarise on synthetic profiles: verdict, ratios, fit, note, JSON safety."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from gradatlas.worker.engine import summarise

N_HIDDEN = 10  # + read-out = 11 layers


def geometric(gain: float, n: int = N_HIDDEN + 1) -> np.ndarray:
    """s_l with s_l / s_{l+1} = gain, the output side at 1."""
    return gain ** (n - 1 - np.arange(n, dtype=np.float64))


def profile(signal: np.ndarray, grad: np.ndarray | None = None, rows: int = 2, **extra: np.ndarray) -> dict[str, Any]:
    grad = signal if grad is None else grad
    metrics = {"signal_norm": np.tile(signal, (rows, 1)), "grad_norm": np.tile(grad, (rows, 1))}
    metrics.update(extra)
    return {"steps": list(range(0, 10 * rows, 10)), "loss": [2.3] * rows, "accuracy": [0.1] * rows,
            "metrics": metrics, "n_hidden": N_HIDDEN}


def test_healthy_profile() -> None:
    s = summarise(**profile(geometric(1.0)), theory_gain=1.0)
    assert s["verdict"] == "healthy"
    assert s["signal_ratio_init"] == pytest.approx(1.0) and s["grad_ratio_init"] == pytest.approx(1.0)
    assert s["first_nonfinite"] is None and s["note"] is None
    assert s["final_loss"] == 2.3 and s["final_accuracy"] == 0.1 and s["theory_gain"] == 1.0
    assert s["remedies"] == [] and s["thresholds"] == {"vanishing": 1e-3, "exploding": 1e3}


@pytest.mark.parametrize(("gain", "verdict"), [(0.3, "vanishing"), (3.0, "exploding"), (0.6, "healthy")])
def test_verdict_follows_the_signal_ratio(gain: float, verdict: str) -> None:
    signal = geometric(gain)
    s = summarise(**profile(signal))
    assert s["verdict"] == verdict
    # first hidden over last hidden: gain^(N_HIDDEN - 1)
    assert s["signal_ratio_init"] == pytest.approx(gain ** (N_HIDDEN - 1))


def test_thresholds_are_settings() -> None:
    s = summarise(**profile(geometric(0.6)), vanishing_threshold=0.1)
    assert s["verdict"] == "vanishing" and s["thresholds"]["vanishing"] == 0.1


def test_layer_gain_fit_skips_the_transient() -> None:
    signal = geometric(0.5)
    signal[0] *= 1e3  # a wild first layer (the first fifth: layers 0 and 1) must not matter
    signal[1] *= 1e-2
    assert summarise(**profile(signal))["layer_gain_init"] == pytest.approx(0.5)


def test_no_signal_at_all_is_vanishing() -> None:
    signal = geometric(1.0)
    signal[:N_HIDDEN] = 0.0  # 0/0: every hidden unit dead
    s = summarise(**profile(signal))
    assert s["verdict"] == "vanishing"
    assert s["signal_ratio_init"] is None and s["layer_gain_init"] is None


def test_dead_input_side_is_vanishing() -> None:
    signal = geometric(1.0)
    signal[:4] = 0.0
    assert summarise(**profile(signal))["verdict"] == "vanishing"


def test_note_when_weight_gradients_look_flat_but_the_signal_vanishes() -> None:
    s = summarise(**profile(geometric(0.3), grad=geometric(0.95)))
    assert s["verdict"] == "vanishing"
    assert s["note"] and "weight gradients alone" in s["note"]


def test_note_when_weight_gradients_vanish_but_the_signal_is_healthy() -> None:
    s = summarise(**profile(geometric(1.0), grad=geometric(0.3)))
    assert s["verdict"] == "healthy" and s["note"]


def test_no_note_when_both_agree() -> None:
    assert summarise(**profile(geometric(0.3), grad=geometric(0.35)))["note"] is None


def test_nonfinite_loss_is_diverged_and_reported_as_the_loss() -> None:
    p = profile(geometric(1.0))
    p["loss"] = [2.3, math.inf]
    s = summarise(**p)
    assert s["verdict"] == "diverged"
    assert s["first_nonfinite"] == {"step": 10, "layer": None, "metric": "loss"}
    assert s["final_loss"] is None
    json.dumps(s, allow_nan=False)


def test_first_nonfinite_follows_the_order_of_computation() -> None:
    """Forward overflow at layer 6 poisons the loss and every gradient; layer 6 is reported."""
    act = np.ones((2, N_HIDDEN + 1))
    act[1, 6:] = np.inf
    act[1, 7:] = np.nan
    grad = np.tile(geometric(1.0), (2, 1))
    grad[1, :] = np.nan
    p = profile(geometric(1.0), act_mean=act)
    p["metrics"]["grad_norm"] = grad
    p["loss"] = [2.3, math.nan]
    assert summarise(**p)["first_nonfinite"] == {"step": 10, "layer": 6, "metric": "act_mean"}


def test_backward_overflow_is_reported_from_the_output_side() -> None:
    grad = np.tile(geometric(1.0), (2, 1))
    grad[1, :4] = np.inf  # the signal overflowed on its way down: layers 3, 2, 1, 0
    p = profile(geometric(1.0))
    p["metrics"]["grad_norm"] = grad
    s = summarise(**p)
    assert s["verdict"] == "diverged"
    assert s["first_nonfinite"] == {"step": 10, "layer": 3, "metric": "grad_norm"}
    assert s["grad_ratio_final"] is None and s["grad_ratio_init"] == pytest.approx(1.0)


def test_summary_is_json_safe_for_degenerate_profiles() -> None:
    signal = geometric(1.0)
    signal[N_HIDDEN - 1] = 0.0  # x/0 = inf
    s = summarise(**profile(signal))
    assert s["signal_ratio_init"] is None
    json.dumps(s, allow_nan=False)
