"""The summary of a recorded profile (docs/api.md, "The experiment resource").

numpy only, so that it needs no PyTorch: the worker's runs, a user's own
loop (worker/engine/export.py, the summary of an import) and the base install
(`gradatlas.summarise`) all compute a summary with this one function. The
service stores the summaries it is sent and never recomputes one. Every value returned is JSON-safe: a ratio that is
not finite is reported as None, never as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

TIME_METRIC = "time_signal_norm"  # (n_steps, seq_len): not one value per layer
FLAT_BAND = (1e-1, 1e1)  # a weight-gradient ratio in here "looks healthy"
# Where a non-finite value is looked for first within a recorded step: the
# order in which the step computed it (forward input side first, then the
# loss, then backward from the output side, then the update).
_FORWARD = ("weight_norm", "act_mean", "act_std", "dead_fraction", "saturated_fraction")
_BACKWARD = ("signal_norm", "per_sample_grad_norm", "grad_norm", "bias_grad_norm")


def summarise(
    steps: Sequence[int],
    loss: Sequence[float],
    accuracy: Sequence[float],
    metrics: Mapping[str, np.ndarray],
    n_hidden: int,
    vanishing_threshold: float = 1e-3,
    exploding_threshold: float = 1e3,
    theory_gain: float | None = None,
) -> dict[str, Any]:
    """Verdict and headline numbers of a profile; metrics are (n_steps, n_layers).

    A recurrent profile (one with `time_signal_norm`, (n_steps, seq_len)) is
    judged through time: the unrolled network's hidden layers are its time
    steps, so signal_ratio_init and layer_gain_init compare ‖∂L/∂h_t‖ at the
    first and last step, which is where an RNN's gradient vanishes.
    """
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
    grad = arrays.get("grad_norm")
    signal, span = arrays.get("signal_norm"), n_hidden
    through_time = TIME_METRIC in arrays and arrays[TIME_METRIC].shape[1] > 0
    if through_time:
        signal, span = arrays[TIME_METRIC], arrays[TIME_METRIC].shape[1]
    has_rows = len(steps) > 0
    signal_ratio = _ratio(signal[0], span) if signal is not None and has_rows else None
    grad_init = _ratio(grad[0], n_hidden) if grad is not None and has_rows else None
    grad_final = _ratio(grad[-1], n_hidden) if grad is not None and has_rows else None
    first_bad = first_nonfinite(steps, loss, arrays)
    thresholds = (vanishing_threshold, exploding_threshold)
    if first_bad is not None:
        verdict = "diverged"
    elif signal is not None and has_rows:
        verdict = _classify(signal_ratio, thresholds, no_signal=signal[0][0] == 0)
    else:  # signal_norm not recorded: the weight gradients are all there is
        verdict = _classify(grad_init, thresholds, no_signal=grad is not None and has_rows and grad[0][0] == 0)
    note = _note(signal_ratio, None if through_time else grad_init, thresholds, signal is None)
    return {
        "verdict": verdict,
        "signal_ratio_init": _safe(signal_ratio),
        "grad_ratio_init": _safe(grad_init),
        "grad_ratio_final": _safe(grad_final),
        "layer_gain_init": layer_gain(signal[0], span) if signal is not None and has_rows else None,
        "first_nonfinite": first_bad,
        "final_loss": _safe(loss[-1]) if has_rows else None,
        "final_accuracy": _safe(accuracy[-1]) if has_rows else None,
        "theory_gain": _safe(theory_gain),
        "remedies": [],
        "thresholds": {"vanishing": vanishing_threshold, "exploding": exploding_threshold},
        "note": note,
    }


def layer_gain(signal_row: np.ndarray, n_hidden: int) -> float | None:
    """Per-layer signal gain s_l / s_{l+1} at init, fitted over the hidden layers.

    Fit ln s_l = a + b·l by least squares over hidden layers l = ⌊n_hidden/5⌋
    … n_hidden−1 (the first fifth is the transient while q^l settles to q*,
    docs/science.md). Then s_l / s_{l+1} = e^(−b): below 1 when the signal decays
    toward the input, and equal to √χ₁ in mean-field theory, where
    ‖δ^l‖ ∝ χ₁^((L−l)/2). None with fewer than two layers in the window, or
    when one of them is zero or not finite (the logarithm is undefined).
    """
    window = np.asarray(signal_row[:n_hidden], dtype=np.float64)[n_hidden // 5 :]
    if len(window) < 2 or not np.all(np.isfinite(window) & (window > 0)):
        return None
    index = np.arange(len(window), dtype=np.float64)
    slope = np.polyfit(index, np.log(window), 1)[0]
    return _safe(math.exp(-slope))


def first_nonfinite(
    steps: Sequence[int], loss: Sequence[float], metrics: Mapping[str, np.ndarray]
) -> dict[str, Any] | None:
    """The first non-finite value: its step, layer (None for the loss) and metric.

    Within that step the search follows the order of computation: forward
    quantities from the input side, then the loss, then backward quantities
    from the output side, then the rest (update_ratio), so the layer reported
    is where the overflow started rather than where its NaN ended up.
    """
    loss_arr = np.asarray(loss, dtype=np.float64)
    bad = ~np.isfinite(loss_arr)
    for values in metrics.values():
        bad = bad | ~np.all(np.isfinite(values), axis=1)
    if not bad.any():
        return None
    r = int(np.argmax(bad))
    per_layer = [v for k, v in metrics.items() if k != TIME_METRIC]
    n_layers = per_layer[0].shape[1] if per_layer else 0
    forward = [(layer, m) for layer in range(n_layers) for m in _FORWARD]
    backward = [(layer, m) for layer in reversed(range(n_layers)) for m in _BACKWARD]
    rest = [(layer, m) for m in metrics if m not in _FORWARD + _BACKWARD for layer in range(metrics[m].shape[1])]
    for order in (forward, [(None, "loss")], backward, rest):
        for layer, m in order:
            value = loss_arr[r] if layer is None else metrics[m][r, layer] if m in metrics else 0.0
            if not math.isfinite(value):
                return {"step": int(steps[r]), "layer": layer, "metric": m}
    raise AssertionError("a non-finite row without a non-finite value")  # pragma: no cover


def _ratio(row: np.ndarray, n_hidden: int) -> float:
    """First hidden layer over last hidden layer (nan for 0/0, inf for x/0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(row[0]) / np.float64(row[n_hidden - 1]))


def _classify(ratio: float | None, thresholds: tuple[float, float], no_signal: bool) -> str:
    """vanishing / exploding / healthy; no signal at the input side is vanishing."""
    if no_signal or ratio is None or math.isnan(ratio) or ratio < thresholds[0]:
        return "vanishing"
    return "exploding" if ratio > thresholds[1] else "healthy"


def _note(
    signal: float | None, grad: float | None, thresholds: tuple[float, float], no_signal_metric: bool
) -> str | None:
    """Say so when the weight-gradient ratio tells another story than the signal."""
    if no_signal_metric:
        return "signal_norm was not recorded: the verdict rests on the weight-gradient ratio"
    if signal is None or grad is None or not (math.isfinite(signal) and math.isfinite(grad)):
        return None
    lo, hi = thresholds
    flat = FLAT_BAND[0] <= grad <= FLAT_BAND[1]
    if signal < lo and (flat or grad > FLAT_BAND[1]):
        return (
            f"the back-propagated signal vanishes (signal_ratio_init {signal:.3g}) while the "
            f"weight-gradient norms do not (grad_ratio_init {grad:.3g}): the layers' inputs grow "
            "as the signal shrinks, so a monitor of weight gradients alone would miss it"
        )
    if signal > hi and (flat or grad < FLAT_BAND[0]):
        return (
            f"the back-propagated signal explodes (signal_ratio_init {signal:.3g}) while the "
            f"weight-gradient norms do not (grad_ratio_init {grad:.3g}): the layers' inputs "
            "shrink as the signal grows, so a monitor of weight gradients alone would miss it"
        )
    if lo <= signal <= hi and not lo <= grad <= hi:
        return (
            f"the weight-gradient norms vary by {grad:.3g} across the layers although the "
            f"back-propagated signal is healthy (signal_ratio_init {signal:.3g}): the "
            "difference comes from the layers' inputs, not from the backward pass"
        )
    return None


def _safe(value: float | None) -> float | None:
    """JSON-safe float: non-finite becomes None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
