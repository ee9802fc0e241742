"""Side-by-side comparison of several experiments' profiles.

Profiles are aligned on two axes that mean the same thing in every run: the
layer index (0 is the input side) and the recorded training step. A run
that lacks a layer (it is shallower) or a step (it recorded less often)
shows null there, so a depth or probe-interval comparison still lines up.
Runs cannot be compared when one has no profile yet, or when they share no
metric: the error says which and why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gradatlas.service.contracts import profile_codec
from gradatlas.service.contracts.resources import Experiment
from gradatlas.service.reports.differences import spec_differences
from gradatlas.service.store.columns import SUMMARY_COLUMNS
from gradatlas.service.store.gateway import Store
from pydantic import BaseModel, Field

MAX_COMPARE = 10
# the summary's hot fields, and two that only the comparison shows
SUMMARY_FIELDS = (*SUMMARY_COLUMNS, "theory_gain", "first_nonfinite")


class CannotAlign(ValueError):
    """The experiments cannot be put side by side (422, with the reason)."""


class ComparedRun(BaseModel):
    id: str
    name: str
    owner: str
    source: str
    status: str


class ComparedLayer(BaseModel):
    index: int
    names: list[str | None] = Field(description="the layer's name in each run, null where the run has no such layer")


class Comparison(BaseModel):
    """`metrics[m][r][k][l]`: metric m of run r at steps[k], layer index l (null where absent)."""

    ids: list[str]
    runs: list[ComparedRun]
    steps: list[int]
    layers: list[ComparedLayer]
    loss: list[list[float | None]]
    metrics: dict[str, list[list[list[float | None]]]]
    spec_differences: dict[str, list[Any]] = Field(description=(
        "dotted spec path -> value in each run, only fields whose values differ among the runs that read "
        "them (name, notes and tags never); null where a run does not read the field"))
    summary: dict[str, list[Any]]


def _aligned(values: np.ndarray, steps: list[int], all_steps: list[int], n_layers: int) -> list[list[float | None]]:
    at = {step: k for k, step in enumerate(steps)}
    rows: list[list[float | None]] = []
    for step in all_steps:
        if step not in at:
            rows.append([None] * n_layers)
            continue
        row = profile_codec.to_json_values(values[at[step]])
        rows.append(row + [None] * (n_layers - len(row)))
    return rows


def compare(store: Store, experiments: list[Experiment], metrics: list[str] | None = None) -> Comparison:
    profiles = []
    for experiment in experiments:
        found = store.get_profile_arrays(experiment.id)
        if found is None:
            raise CannotAlign(f"experiment {experiment.id} has no profile to align (status {experiment.status})")
        profiles.append(found)
    names = [{n.removeprefix("metric.") for n in arrays if n.startswith("metric.")} for _, _, arrays in profiles]
    common = set.intersection(*names)
    wanted = sorted(common) if metrics is None else metrics
    missing = [(e.id, m) for e, have in zip(experiments, names, strict=True) for m in wanted if m not in have]
    if missing:
        raise CannotAlign(f"experiment {missing[0][0]} did not record {missing[0][1]!r}; metrics all of them recorded: "
                          f"{sorted(common) or 'none'}")
    if not wanted:
        raise CannotAlign("the experiments share no recorded metric")
    steps_of = [arrays["steps"].astype(int).tolist() for _, _, arrays in profiles]
    all_steps = sorted(set().union(*steps_of))
    n_layers = max(len(layers) for layers, _, _ in profiles)
    layers = [ComparedLayer(index=i, names=[layer_list[i]["name"] if i < len(layer_list) else None
                                            for layer_list, _, _ in profiles]) for i in range(n_layers)]
    loss = []
    for (_, _, arrays), steps in zip(profiles, steps_of, strict=True):
        at = dict(zip(steps, profile_codec.to_json_values(arrays["loss"]), strict=True))
        loss.append([at.get(step) for step in all_steps])
    aligned = {m: [_aligned(arrays[f"metric.{m}"], steps, all_steps, n_layers)
                   for (_, _, arrays), steps in zip(profiles, steps_of, strict=True)] for m in wanted}
    summaries = [e.summary or {} for e in experiments]
    return Comparison(
        ids=[e.id for e in experiments],
        runs=[ComparedRun(id=e.id, name=e.name, owner=e.owner, source=e.source, status=e.status) for e in experiments],
        steps=all_steps, layers=layers, loss=loss, metrics=aligned,
        spec_differences=spec_differences([e.spec for e in experiments]),
        summary={field: [s.get(field) for s in summaries] for field in SUMMARY_FIELDS},
    )
