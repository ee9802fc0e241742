"""Publication-quality figures of a profile, drawn with matplotlib's object
API (no pyplot: no global state shared between the API's threads, and the
Agg/SVG canvases need no display). Also the metric metadata (labels, units,
log or linear scale) and the mean-field line that the web pages reuse, so a
figure and a chart never disagree about what an axis means.

matplotlib is imported inside the functions: importing `service` must stay
cheap, and an API process that never draws a figure never pays for it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gradatlas.service.contracts.resources import Profile


@dataclass(frozen=True)
class MetricInfo:
    label: str  # axis label, with units
    log: bool  # strictly positive norms are read on a log axis
    theory: bool  # the mean-field per-layer gain applies to it


_GRAD_UNIT = "loss units per unit weight"
METRICS: dict[str, MetricInfo] = {
    "grad_norm": MetricInfo(f"weight-gradient norm ‖∂L/∂W‖_F ({_GRAD_UNIT})", True, True),
    "bias_grad_norm": MetricInfo("bias-gradient norm ‖∂L/∂b‖₂ (loss units per unit bias)", True, True),
    "signal_norm": MetricInfo("back-propagated signal ‖∂L/∂z‖_F (loss units per unit pre-activation)", True, True),
    "per_sample_grad_norm": MetricInfo(f"per-example gradient norm, RMS over the batch ({_GRAD_UNIT})", True, True),
    "weight_norm": MetricInfo("weight norm ‖W‖_F (dimensionless)", True, False),
    "update_ratio": MetricInfo("update ratio ‖ΔW‖_F / ‖W‖_F (dimensionless)", True, False),
    "act_mean": MetricInfo("activation mean (activation units)", False, False),
    "act_std": MetricInfo("activation standard deviation (activation units)", True, False),
    "dead_fraction": MetricInfo("dead units (fraction of the layer)", False, False),
    "saturated_fraction": MetricInfo("saturated (example, unit) pairs (fraction)", False, False),
}
KINDS = ("lines", "heatmap")
FORMATS = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
SIZE_IN = (8.0, 5.0)
DPI = 150  # a PNG is 1200 × 750 pixels


def metric_info(metric: str) -> MetricInfo:
    return METRICS.get(metric, MetricInfo(metric, True, False))


def metric_array(profile: Profile, metric: str) -> np.ndarray:
    """(steps, layers) float64, NaN where the stored value was not finite."""
    rows = profile.metrics[metric]
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64).reshape(len(rows), -1)


def theory_line(profile: Profile, metric: str) -> list[float] | None:
    """The mean-field prediction at initialisation: anchored at the last hidden
    layer's measured value, each layer towards the input multiplies it by
    gain = √χ₁. None where the theory does not apply (no `theory`, a metric
    that is not a back-propagated norm, or nothing finite to anchor to)."""
    gain = (profile.theory or {}).get("gain")
    if not gain or not metric_info(metric).theory or metric not in profile.metrics or not profile.steps:
        return None
    first = metric_array(profile, metric)[0]
    anchor = len(first) - 2  # the last hidden layer; the read-out is last
    if anchor < 0 or not math.isfinite(first[anchor]) or first[anchor] <= 0:
        return None
    values = [float(first[anchor] * gain ** (anchor - layer)) for layer in range(anchor + 1)]
    return [v if math.isfinite(v) else float("nan") for v in values]


def render(profile: Profile, title: str, metric: str, kind: str, fmt: str) -> bytes:
    """One figure as PNG, SVG or PDF bytes. Raises KeyError for an unknown metric."""
    from matplotlib.figure import Figure

    if metric not in profile.metrics:
        raise KeyError(metric)
    figure = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    values = metric_array(profile, metric)
    if kind == "heatmap":
        _heatmap(figure, axes, profile, metric, values)
    else:
        _lines(figure, axes, profile, metric, values)
    axes.set_title(f"{title or 'experiment'} — {metric.replace('_', ' ')}", fontsize=12)
    out = io.BytesIO()
    figure.savefig(out, format=fmt, dpi=DPI, metadata=_metadata(fmt, title))
    return out.getvalue()


def _metadata(fmt: str, title: str) -> dict[str, Any]:
    # No date keeps SVG and PDF output identical for identical input.
    if fmt == "svg":
        return {"Title": title, "Date": None}
    if fmt == "pdf":
        return {"Title": title, "CreationDate": None}
    return {"Title": title}


def _lines(figure: Any, axes: Any, profile: Profile, metric: str, values: np.ndarray) -> None:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    info = metric_info(metric)
    layers = np.arange(values.shape[1])
    steps = profile.steps
    norm = Normalize(vmin=min(steps), vmax=max(max(steps), min(steps) + 1))
    cmap = colormaps["viridis"]
    for step, row in zip(steps, values, strict=True):
        plotted = np.where(row > 0, row, np.nan) if info.log else row
        axes.plot(layers, plotted, color=cmap(norm(step)), linewidth=1.4, marker="o", markersize=2.5,
                  label=f"step {step}" if step in (steps[0], steps[-1]) else None)
    theory = theory_line(profile, metric)
    if theory is not None:
        gain = (profile.theory or {})["gain"]
        axes.plot(np.arange(len(theory)), theory, color="#d62728", linestyle="--", linewidth=1.8,
                  label=f"mean-field theory, ×{gain:.3g} per layer")
    if info.log and np.any(values > 0):
        axes.set_yscale("log")
    axes.set_xlabel("layer index (input → output; the read-out is last)")
    axes.set_ylabel(_two_lines(info.label + ("; log scale" if info.log else "")), fontsize=9)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(loc="best", fontsize=8, frameon=False)
    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="training step")


def _two_lines(label: str) -> str:
    """'quantity (units)' on two lines, so a long label fits beside the axis."""
    head, sep, tail = label.partition(" (")
    return f"{head}\n({tail}" if sep else label


def _heatmap(figure: Any, axes: Any, profile: Profile, metric: str, values: np.ndarray) -> None:
    from matplotlib.ticker import MaxNLocator

    info = metric_info(metric)
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = np.where(values > 0, np.log10(values), np.nan) if info.log else values
    mesh = axes.imshow(shown, aspect="auto", origin="lower", cmap="magma", interpolation="nearest",
                       extent=(-0.5, values.shape[1] - 0.5, -0.5, len(profile.steps) - 0.5))
    ticks = np.linspace(0, len(profile.steps) - 1, num=min(len(profile.steps), 8)).round().astype(int)
    axes.set_yticks(ticks, [str(profile.steps[i]) for i in ticks])
    axes.set_xlabel("layer index (input → output; the read-out is last)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("training step")
    figure.colorbar(mesh, ax=axes, label=_two_lines(f"log10 of {info.label}" if info.log else info.label))
