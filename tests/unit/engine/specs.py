"""Spec factory shared by the engine's unit tests."""

from __future__ import annotations

from typing import Any

from gradatlas.service.contracts.spec import ExperimentSpec

BASE: dict[str, Any] = {
    "model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh"},
    "data": {"name": "gaussian", "input_dim": 6, "classes": 3, "samples": 64, "batch_size": 16},
    "training": {"steps": 5},
    "probe": {"every": 2},
    "device": "cpu",
}


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def make_spec(patch: dict[str, Any] | None = None) -> ExperimentSpec:
    """BASE with `patch` merged in (RFC 7396 style), validated."""
    return ExperimentSpec.model_validate(_merge(BASE, patch or {}))

