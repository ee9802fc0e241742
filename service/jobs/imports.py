"""POST /api/v1/imports: a profile recorded by GradientProbe in a user's
own training loop becomes an experiment with `source: "import"`.

The body is validated by the models below (they also generate its OpenAPI
schema): every metric must have one row per step and one value per layer.
With a `spec` (a full ExperimentSpec) the import is queryable by every
spec field like a service run; without one it is stored as arch `custom`.
"""

from __future__ import annotations

from typing import Any, Literal

from gradatlas.service.contracts.errors import validated
from gradatlas.service.contracts.resources import Experiment, Layer
from gradatlas.service.contracts.spec import ALL_METRICS, ExperimentSpec
from gradatlas.service.contracts.text import FreeText, Line
from gradatlas.service.store.columns import hot_values
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.records import store_import
from pydantic import BaseModel, ConfigDict, Field, model_validator


class ImportProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layers: list[Layer] = Field(min_length=1, max_length=10000)
    steps: list[int] = Field(min_length=1, max_length=100000)
    loss: list[float | None]
    accuracy: list[float | None] = Field(default_factory=list)
    metrics: dict[str, list[list[float | None]]]

    @model_validator(mode="after")
    def _shapes(self) -> ImportProfile:
        n_steps, n_layers = len(self.steps), len(self.layers)
        if any(b <= a for a, b in zip(self.steps, self.steps[1:], strict=False)) or self.steps[0] < 0:
            raise ValueError("steps must be non-negative and increasing")
        if len(self.loss) != n_steps or (self.accuracy and len(self.accuracy) != n_steps):
            raise ValueError(f"loss (and accuracy) need one value per step ({n_steps})")
        for name, rows in self.metrics.items():
            if name not in ALL_METRICS:
                raise ValueError(f"unknown metric {name!r}")
            if len(rows) != n_steps or any(len(row) != n_layers for row in rows):
                raise ValueError(f"metric {name} must be {n_steps} rows (steps) of {n_layers} values (layers)")
        if [layer.index for layer in self.layers] != list(range(n_layers)):
            raise ValueError("layers must be indexed 0, 1, … from the input side")
        return self


class ImportSummary(BaseModel):
    model_config = ConfigDict(extra="allow")
    verdict: Literal["vanishing", "exploding", "diverged", "healthy"]
    signal_ratio_init: float | None = None
    grad_ratio_init: float | None = None
    grad_ratio_final: float | None = None
    layer_gain_init: float | None = None
    final_loss: float | None = None
    final_accuracy: float | None = None


class ImportBody(BaseModel):
    """What `GradientProbe.to_import()` produces."""

    model_config = ConfigDict(extra="forbid")
    name: Line = Field("", max_length=200)
    tags: list[Line] = Field(default_factory=list, max_length=32)
    notes: FreeText = Field("", max_length=10000)
    spec: dict[str, Any] | None = Field(None, description="the ExperimentSpec this loop matches, if any")
    profile: ImportProfile
    summary: ImportSummary
    environment: dict[str, Any] = Field(default_factory=dict)


def import_profile(body: Any, owner: str, store: Store) -> Experiment:
    parsed = validated(ImportBody, body, "the import", "the import is not valid")
    spec = None if parsed.spec is None else validated(ExperimentSpec, parsed.spec, "the spec", "the import is not valid")
    profile = parsed.profile
    if spec is not None:
        document = spec.model_dump(mode="json")
        hot = hot_values(spec)
    else:
        width = max((layer.shape[0] for layer in profile.layers if layer.shape), default=0)
        document = {"model": {"arch": "custom", "depth": len(profile.layers) - 1, "width": width, "activation": "custom"}}
        hot = {"arch": "custom", "depth": len(profile.layers) - 1, "width": width, "activation": "custom", "init_scheme": "custom"}
    stored = {"layers": [layer.model_dump() for layer in profile.layers], "steps": profile.steps,
              "loss": [_nan(v) for v in profile.loss], "accuracy": [_nan(v) for v in profile.accuracy],
              "metrics": {name: [[_nan(v) for v in row] for row in rows] for name, rows in profile.metrics.items()},
              "theory": None}
    tags = parsed.tags or (spec.tags if spec else [])
    return store_import(store, owner, document, hot, parsed.name or (spec.name if spec else ""), tags,
                        parsed.notes, stored, parsed.summary.model_dump(), {**parsed.environment, "source": "import"})


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
