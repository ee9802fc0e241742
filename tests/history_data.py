"""A small, varied team history for the query tests: every row's expected
membership and order is computed in Python from the same records, so a test
passes only if the database (SQLite or PostgreSQL) agrees with the oracle."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from gradatlas.service.contracts.spec import ExperimentSpec


@dataclass
class Seeded:
    id: str
    name: str
    owner: str
    tags: list[str]
    spec: dict[str, Any]
    summary: dict[str, Any] | None
    created_at: datetime  # as stored: the default order's key


def _profile(n_layers: int) -> dict[str, Any]:
    layers = [{"index": i, "name": f"hidden.{i}", "kind": "linear", "shape": [4, 4]} for i in range(n_layers)]
    return {"layers": layers, "steps": [0], "loss": [2.3], "accuracy": [0.1],
            "metrics": {"grad_norm": np.ones((1, n_layers))}, "total_steps": 1}


def seed_history(store: Any) -> list[Seeded]:
    """24 experiments over activation × depth × weight_var × lr; two of every
    three succeed with a summary (some with a null ratio), the rest stay queued."""
    out: list[Seeded] = []
    grid = itertools.product(["sigmoid", "tanh", "relu"], [5, 10, 20, 40], [0.5, 2.0])
    for i, (activation, depth, weight_var) in enumerate(grid):
        owner = "alice" if i % 2 == 0 else "bob"
        tags = ["lecture"] if i % 3 == 0 else (["baseline", "x'y"] if i % 3 == 1 else [])
        name = f"run-{i}" if i % 5 else f"RUN-{i}"
        spec = ExperimentSpec.model_validate({
            "name": name, "tags": tags,
            "model": {"arch": "mlp", "depth": depth, "width": 8, "activation": activation, "bias": i % 4 != 0,
                      "init": {"scheme": "normal", "weight_var": weight_var}},
            "data": {"samples": 500 + 100 * i}, "training": {"steps": 1, "lr": 1e-3 if i % 2 else 1e-2}})
        experiment = store.create_experiment(spec, owner, "cpu")
        summary = None
        if i % 3 != 2:
            ratio = None if i % 7 == 0 else 10.0 ** (-(i % 6) * 2 + 3)
            verdict = "vanishing" if ratio is not None and ratio < 1e-3 else "exploding" if ratio and ratio > 1e3 else "healthy"
            summary = {"verdict": verdict, "signal_ratio_init": ratio, "grad_ratio_init": float(i % 4),
                       "grad_ratio_final": 1.0, "layer_gain_init": 0.5, "final_loss": 2.0 + i / 100,
                       "final_accuracy": 0.1, "theory_gain": None if i % 2 else 0.9, "first_nonfinite": None}
            claim = store.claim(experiment.id, {})
            assert store.complete(claim, _profile(depth + 1), summary, {})
        out.append(Seeded(experiment.id, name, owner, sorted(set(tags)), spec.model_dump(mode="json"), summary,
                          experiment.created_at))
    return out


def value(row: Seeded, field: str) -> Any:
    if field in ("id", "name", "owner", "created_at"):
        return getattr(row, field)
    if field.startswith("summary."):
        return None if row.summary is None else row.summary.get(field.removeprefix("summary."))
    node: Any = row.spec
    for part in field.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def oracle_order(rows: list[Seeded], keys: list[tuple[str, bool]]) -> list[str]:
    """Sort like the service: NULLs last in either direction, id breaks ties
    in the direction of the last key."""
    keys = keys + [("id", keys[-1][1])] if all(k != "id" for k, _ in keys) else keys
    ordered = list(rows)
    for field, descending in reversed(keys):
        present = [r for r in ordered if value(r, field) is not None]
        missing = [r for r in ordered if value(r, field) is None]
        present.sort(key=lambda r, f=field: value(r, f), reverse=descending)  # type: ignore[misc]
        ordered = present + missing
    return [r.id for r in ordered]
