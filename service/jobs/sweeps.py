"""Sweeps: one request, one experiment per point of a grid (and/or random
draws) over a base spec.

Every point is built and validated (spec and quota) before anything is
stored, so a bad point rejects the whole sweep with its index and values
and leaves no half-sweep behind. The rows are committed in one transaction,
then published: same-shaped points as one batch task (`service.batching`),
so the worker can run them as one vectorised model.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from gradatlas.service.contracts.errors import InvalidInput
from gradatlas.service.contracts.queue import queue_for
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.contracts.spec import NAME_MAX_LENGTH, partial_spec_schema
from gradatlas.service.contracts.text import CLIENT, Line
from gradatlas.service.jobs.batching import group_for_batches
from gradatlas.service.jobs.submit import Enqueue, check_quota, parse_spec, publish_or_leave_queued
from gradatlas.service.search.fields import TOP_LEVEL, all_fields
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.pages import Key
from gradatlas.service.store.sweeps import StoredSweep, insert_sweep, read_sweep, recent_sweep_ids
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

MAX_POINTS = 1000


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float
    max: float
    log: bool = Field(False, description="draw uniformly in log space (min > 0)")
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.max < self.min or (self.log and self.min <= 0):
            raise ValueError("need min ≤ max (and min > 0 for log)")
        return self


class RandomAxes(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    n: int = Field(ge=1, le=MAX_POINTS, validation_alias="n", description="number of draws (alias `samples`)")
    ranges: dict[str, Range | list[Any]] = Field(description="path -> {min, max, log, integer} or a list to choose from")
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _samples_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "samples" in data and "n" not in data:
            data = {**data, "n": data["samples"]}
            data.pop("samples")
        return data


class SweepRequest(BaseModel):
    """POST /api/v1/sweeps: points = grid × random draws × seeds."""

    model_config = ConfigDict(extra="forbid")
    name: Line = Field("", max_length=NAME_MAX_LENGTH)
    base: Annotated[dict[str, Any], WithJsonSchema({**partial_spec_schema(), "title": "Base"})] = Field(
        description="an experiment spec (ExperimentSpec) every point starts from; fields the axes set may be left out")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="spec path -> values; the product is taken")
    random: RandomAxes | None = None
    seeds: list[int] | None = Field(None, description="every point once per seed (the `seed` axis)")


class SweepRowOut(BaseModel):
    index: int
    values: dict[str, Any]
    experiment_id: str
    status: str
    summary: dict[str, Any] | None


class Sweep(BaseModel):
    id: str
    name: str
    owner: str
    axes: list[str]
    n_points: int
    created_at: datetime
    counts: dict[str, int]
    table: list[SweepRowOut] | None = None


def point_name(sweep_name: str, index: int) -> str:
    """`name[index]`, cut so that it fits an experiment's name (a sweep's
    name may be as long as an experiment's, and the suffix must survive)."""
    suffix = f"[{index}]"
    return sweep_name[: NAME_MAX_LENGTH - len(suffix)] + suffix


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node = document
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise InvalidInput(f"sweep axis {path!r} goes through a non-object")
    node[keys[-1]] = value


def _check_axes(paths: list[str]) -> None:
    known = all_fields()
    for path in paths:
        if path not in known or path in TOP_LEVEL or path.startswith("summary."):
            raise InvalidInput(f"{path!r} is not a spec field a sweep can vary",
                               [{"loc": ["body", "axes", path], "msg": "use a dotted spec path such as model.depth"}])


def points(request: SweepRequest) -> list[dict[str, Any]]:
    """The axis values of every point, in a stable order."""
    grid = list(request.grid.items())
    combos = [dict(zip([k for k, _ in grid], values, strict=True)) for values in itertools.product(*[v for _, v in grid])]
    if request.random is not None:
        rng = random.Random(request.random.seed)
        draws = [{path: _draw(rng, spec) for path, spec in request.random.ranges.items()} for _ in range(request.random.n)]
        combos = [{**combo, **draw} for combo in combos for draw in draws]
    if request.seeds:
        combos = [{**combo, "seed": seed} for combo in combos for seed in request.seeds]
    return combos


def _draw(rng: random.Random, spec: Range | list[Any]) -> Any:
    if isinstance(spec, list):
        return rng.choice(spec)
    if spec.log:
        value = 10 ** rng.uniform(math.log10(spec.min), math.log10(spec.max))
    else:
        value = rng.uniform(spec.min, spec.max)
    return round(value) if spec.integer else value


def create_sweep(body: Any, owner: str, store: Store, enqueue: Enqueue, settings: Settings) -> Sweep:
    request = SweepRequest.model_validate(body, strict=True, context=CLIENT)  # strict: as contracts.errors.validated
    axes = list(request.grid) + (list(request.random.ranges) if request.random else []) + (["seed"] if request.seeds else [])
    _check_axes(axes)
    combos = points(request)
    if not 1 <= len(combos) <= MAX_POINTS:
        raise InvalidInput(f"a sweep has 1 to {MAX_POINTS} points; this one has {len(combos)}",
                           [{"loc": ["body"], "msg": f"{len(combos)} points"}])
    specs = []
    for index, values in enumerate(combos):
        document = copy.deepcopy(request.base)
        for path, value in values.items():
            _set(document, path, value)
        try:
            spec = parse_spec(document)
            check_quota(spec, settings)
        except InvalidInput as exc:  # QuotaExceeded included: the point keeps its error's type and code
            details = [{**d, "loc": ["points", index, *d.get("loc", [])]} for d in exc.details]
            raise type(exc)(f"point {index} ({_describe(values)}) is not valid: {exc.message}", details) from exc
        specs.append(spec)
    named = [spec if spec.name else spec.model_copy(update={"name": point_name(request.name or "sweep", index)})
             for index, spec in enumerate(specs)]
    queued = [(spec, queue_for(spec, settings)) for spec in named]
    sweep_id, ids = insert_sweep(store, name=request.name, owner=owner, base=request.base, axes=axes,
                                 definition=request.model_dump(mode="json"), points=queued)
    publish_points([(experiment_id, queue, spec) for experiment_id, (spec, queue) in zip(ids, queued, strict=True)],
                   store, enqueue)
    found = get_sweep(store, sweep_id)
    assert found is not None
    return found


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{path}={value!r}" for path, value in values.items())


def publish_points(rows: list[tuple[str, str, Any]], store: Store, enqueue: Enqueue) -> None:
    """Publish after the commit; a batch task where the enqueue offers one.
    A group the broker refuses stays `queued` for recovery, which runs its
    points one by one."""
    queue_of = {experiment_id: queue for experiment_id, queue, _ in rows}
    batch = getattr(enqueue, "batch", None)
    for group in group_for_batches([(experiment_id, spec) for experiment_id, _, spec in rows]):
        if batch is not None and len(group) > 1:
            publish_or_leave_queued(partial(batch, group, queue_of[group[0]]), group, store)
        else:
            publish_or_leave_queued(partial(_each, enqueue, group, queue_of), group, store)


def _each(enqueue: Enqueue, experiment_ids: list[str], queue_of: dict[str, str]) -> None:
    for experiment_id in experiment_ids:
        enqueue(experiment_id, queue_of[experiment_id])


def get_sweep(store: Store, sweep_id: str, with_table: bool = True) -> Sweep | None:
    stored = read_sweep(store, sweep_id, with_points=with_table)
    return None if stored is None else _to_sweep(stored)


def _to_sweep(stored: StoredSweep) -> Sweep:
    table = None if stored.points is None else [
        SweepRowOut(index=point.index, experiment_id=point.experiment_id, status=point.status, summary=point.summary,
                    values={axis: _get(point.spec, axis) for axis in stored.axes}) for point in stored.points]
    return Sweep(id=stored.id, name=stored.name, owner=stored.owner, axes=stored.axes, n_points=stored.n_points,
                 created_at=stored.created_at, counts=stored.counts, table=table)


def _get(document: dict[str, Any], path: str) -> Any:
    node: Any = document
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def list_sweeps(store: Store, limit: int = 50, after: Key | None = None) -> tuple[list[Sweep], Key | None]:
    """A page of sweeps, newest first, without their tables; and the key the next page starts after."""
    ids, next_key = recent_sweep_ids(store, limit, after)
    sweeps = [sweep for sweep in (get_sweep(store, sweep_id, with_table=False) for sweep_id in ids) if sweep is not None]
    return sweeps, next_key
