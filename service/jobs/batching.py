"""Which experiments can run as one vectorised model.

Points of a sweep that share every shape and every choice of code path
(architecture, data set and its size, batch size, steps, probe schedule,
optimiser kind, loss, clipping, dtype, device) and differ only in numbers
the batched engine takes per point (seed, initialisation, learning rate,
momentum, weight decay, input scale) run together. Shared by the API (to
publish such points as one task) and the engine (to decide again): pydantic
only, so an API node still needs no PyTorch.
"""

from __future__ import annotations

import json
from typing import Any

from gradatlas.service.contracts.spec import ExperimentSpec

# Paths a point may change and still share the batch (everything else must be equal).
PER_POINT: tuple[tuple[str, ...], ...] = (
    ("name",), ("tags",), ("notes",), ("seed",), ("time_limit_s",), ("model", "init"), ("data", "input_std"),
    ("training", "lr"), ("training", "momentum"), ("training", "weight_decay"),
)
BATCHABLE_OPTIMIZERS = frozenset({"sgd", "momentum", "nesterov", "adam", "adamw"})
MAX_BATCH = 64


def batch_key(spec: ExperimentSpec) -> str | None:
    """Equal keys run as one model; None: this spec runs on its own."""
    m = spec.model
    if (m.arch != "mlp" or m.norm != "none" or spec.dtype not in ("float32", "float64")
            or spec.training.optimizer not in BATCHABLE_OPTIMIZERS or spec.data.name not in ("gaussian", "teacher", "digits")):
        return None
    document: dict[str, Any] = spec.model_dump(mode="json")
    for path in PER_POINT:
        node = document
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1], None)
    return json.dumps(document, sort_keys=True)


def group_for_batches(specs: list[tuple[str, ExperimentSpec]]) -> list[list[str]]:
    """Ids grouped by batch key, in order, at most MAX_BATCH a group; a spec
    that cannot batch is a group of its own."""
    groups: dict[str, list[str]] = {}
    out: list[list[str]] = []
    for experiment_id, spec in specs:
        key = batch_key(spec)
        if key is None:
            out.append([experiment_id])
            continue
        group = groups.setdefault(key, [])
        group.append(experiment_id)
        if len(group) == MAX_BATCH:
            out.append(list(group))
            group.clear()
    out.extend(group for group in groups.values() if group)
    return out
