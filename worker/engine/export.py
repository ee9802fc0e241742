"""A probe's record from a user's own training loop, as the body of
`POST /api/v1/imports`.

    probe = GradientProbe(model, layers=loop_layers(model))
    for step, (x, y) in enumerate(batches):
        with probe.watching():
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(); loss.backward()
        probe.after_backward(); optimizer.step(); probe.after_step()
        probe.record(step, loss)
    body = probe.to_import(name="my-run", spec=None)

The summary (verdict and ratios) is computed here by the engine's own
`summarise`, the same function a service run uses; the server checks the
shapes and stores it as an experiment with `source: "import"`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from gradatlas.service.science.analysis import summarise
from gradatlas.worker.engine.layers import ProbedLayer
from torch import Tensor, nn

_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def loop_layers(model: nn.Module) -> list[ProbedLayer]:
    """Every Linear (attention projections that are called as modules
    included) and Conv layer of any model, input side first by module order."""
    return [ProbedLayer(name or type(module).__name__, module)
            for name, module in model.named_modules() if isinstance(module, _WEIGHT_LAYERS)]


@dataclass
class ImportLog:
    """The recorded steps of a run: a probe's `recorded`, and the engine's own trace."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    rows: list[dict[str, np.ndarray]] = field(default_factory=list)


class RecordingProbe(Protocol):
    """What record() and to_import() need of a GradientProbe (named here
    rather than imported: probe.py imports this module)."""

    layers: list[ProbedLayer]
    metrics: tuple[str, ...]
    recorded: ImportLog

    def read(self, *scalars: Tensor) -> tuple[dict[str, np.ndarray], list[float]]: ...


def record(probe: RecordingProbe, step: int, loss: Tensor, accuracy: Tensor | float | None = None) -> dict[str, np.ndarray]:
    """Read this step's record (one host copy) and keep it for to_import."""
    extra = [loss] if accuracy is None else [loss, torch.as_tensor(accuracy, dtype=torch.float64, device=loss.device)]
    row, values = probe.read(*extra)
    log = probe.recorded
    if log.steps and step <= log.steps[-1]:
        raise ValueError(f"steps must increase: {step} after {log.steps[-1]}")
    log.steps.append(int(step))
    log.loss.append(values[0])
    log.accuracy.append(values[1] if accuracy is not None else math.nan)
    log.rows.append(row)
    return row


def _json(values: Any) -> Any:
    if isinstance(values, list):
        return [_json(v) for v in values]
    return values if math.isfinite(values) else None


def to_import(probe: RecordingProbe, name: str = "", tags: list[str] | tuple[str, ...] = (), notes: str = "",
              spec: dict[str, Any] | None = None) -> dict[str, Any]:
    log = probe.recorded
    if not log.steps:
        raise ValueError("nothing recorded: call probe.record(step, loss) on the steps you want to keep")
    layers = [{"index": i, "name": layer.name, "kind": "conv" if isinstance(layer.linear, nn.Conv1d | nn.Conv2d | nn.Conv3d)
               else "linear", "shape": list(layer.linear.weight.shape)} for i, layer in enumerate(probe.layers)]
    metrics = {m: np.stack([row[m] for row in log.rows]) for m in probe.metrics}
    summary = summarise(log.steps, log.loss, log.accuracy, metrics, n_hidden=max(len(layers) - 1, 1))
    device = str(probe.layers[0].linear.weight.device)
    return {
        "name": name, "tags": list(tags), "notes": notes, "spec": spec,
        "profile": {"layers": layers, "steps": log.steps, "loss": _json(log.loss), "accuracy": _json(log.accuracy),
                    "metrics": {m: _json(v.tolist()) for m, v in metrics.items()}},
        "summary": summary,
        "environment": {"torch": torch.__version__, "device": device, "recorded_by": "GradientProbe"},
    }
