"""The verdict in one plain sentence, computed from the summary's numbers.

A newcomer should not need to know what `signal_ratio_init` means to read
"each sigmoid layer multiplies the signal by about 0.37 on the way back".
The web page, the CLI's `show` and the README all use this one function.
"""

from __future__ import annotations

import math
from typing import Any

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sci(value: float | str | None) -> str:
    """3.1e-09 → '3×10⁻⁹'; ordinary magnitudes stay decimal; words (a remedy's
    predicted verdict) pass through."""
    if isinstance(value, str):
        return value
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    if 1e-2 <= abs(value) < 1e4:
        return format(float(f"{value:.3g}"), "g")
    exponent = math.floor(math.log10(abs(value)))
    mantissa = float(f"{value / 10**exponent:.2g}")
    if abs(mantissa) >= 10:  # 9.97 rounds to 10: carry into the exponent
        mantissa, exponent = mantissa / 10, exponent + 1
    head = "" if mantissa == 1 else "-" if mantissa == -1 else f"{mantissa:g}×"
    return f"{head}10{str(exponent).translate(_SUPERSCRIPT)}"


def explain(summary: dict[str, Any] | None, spec: dict[str, Any], status: str = "succeeded") -> str:
    if not summary:
        return {"queued": "Waiting for a worker.", "running": "Running: the verdict appears when it finishes.",
                "failed": "The run failed before it produced a profile (see the error).",
                "cancelled": "Cancelled before it finished."}.get(status, "No summary yet.")
    model = spec.get("model", {})
    depth, activation = model.get("depth", "?"), model.get("activation", "")
    verdict = summary.get("verdict")
    if verdict == "diverged":
        where = summary.get("first_nonfinite") or {}
        return (f"Training diverged: {where.get('metric', 'a value')} became infinite or NaN at step {where.get('step', '?')}"
                f"{'' if where.get('layer') is None else ', layer ' + str(where['layer'])}: the updates grew until they overflowed.")
    ratio, gain, theory = summary.get("signal_ratio_init"), summary.get("layer_gain_init"), summary.get("theory_gain")
    if verdict == "vanishing" and not ratio:
        return ("No gradient reaches the first layer at all: a whole layer passes no signal (every unit's derivative is 0, "
                "e.g. dead ReLUs), so nothing below it can learn.")
    relation = "times" if ratio is not None and ratio > 1 else "of"
    sentence = f"The gradient signal at hidden layer 1 is {sci(ratio)} {relation} that at hidden layer {depth}"
    if gain is not None:
        sentence += f": each {activation} layer multiplies it by about {gain:.2g} on the way back"
        if theory is not None:
            sentence += f", and mean-field theory predicts {theory:.2g}"
    thresholds = summary.get("thresholds") or {"vanishing": 1e-3, "exploding": 1e3}
    if verdict == "vanishing":
        sentence += f". Below {sci(thresholds['vanishing'])} the early layers barely learn: the gradient vanishes."
    elif verdict == "exploding":
        sentence += f". Above {sci(thresholds['exploding'])} the early layers get huge updates: the gradient explodes."
    else:
        sentence += ". Every layer gets a usable gradient: healthy."
    note = summary.get("note")
    return f"{sentence} {note}" if note else sentence
