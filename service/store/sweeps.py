"""The sweeps table and its points (experiments with `sweep_id` set):
written in one transaction so a sweep is stored whole or not at all, read
back with its points in index order and its status counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.pages import Key, keyset_select, split_page
from gradatlas.service.store.rows import aware, could_be_id, experiment_row, new_id, tag_rows, utcnow
from gradatlas.service.store.tables import ExperimentRow, SweepRow
from sqlalchemy import func, select


@dataclass(frozen=True)
class SweepPoint:
    index: int
    experiment_id: str
    status: str
    spec: dict[str, Any]
    summary: dict[str, Any] | None


@dataclass(frozen=True)
class StoredSweep:
    id: str
    name: str
    owner: str
    axes: list[str]
    n_points: int
    created_at: datetime
    counts: dict[str, int]
    points: list[SweepPoint] | None  # None when not asked for


def insert_sweep(store: Store, *, name: str, owner: str, base: dict[str, Any], axes: list[str],
                 definition: dict[str, Any], points: list[tuple[ExperimentSpec, str]]) -> tuple[str, list[str]]:
    """The sweep and one `queued` experiment per (spec, queue), in order;
    returns the sweep's id and the experiments' ids."""
    sweep_id, ids = new_id(), []
    with store.session() as session:
        session.add(SweepRow(id=sweep_id, name=name, owner=owner, base=base, axes=axes, definition=definition,
                             n_points=len(points), created_at=utcnow()))
        session.flush()
        for index, (spec, queue) in enumerate(points):
            row = experiment_row(spec, owner, queue, sweep_id=sweep_id, sweep_index=index)
            session.add(row)
            session.add_all(tag_rows(row.id, row.tags))
            ids.append(row.id)
    return sweep_id, ids


def read_sweep(store: Store, sweep_id: str, with_points: bool = True) -> StoredSweep | None:
    if not could_be_id(sweep_id):
        return None
    with store.session() as session:
        sweep = session.get(SweepRow, sweep_id)
        if sweep is None:
            return None
        points = _points(session, sweep_id) if with_points else None
        counts = session.execute(select(ExperimentRow.status, func.count()).where(ExperimentRow.sweep_id == sweep_id)
                                 .group_by(ExperimentRow.status)).all()
        return StoredSweep(id=sweep.id, name=sweep.name, owner=sweep.owner, axes=sweep.axes, n_points=sweep.n_points,
                           created_at=aware(sweep.created_at),  # type: ignore[arg-type]
                           counts={status: int(n) for status, n in counts}, points=points)


def _points(session: Any, sweep_id: str) -> list[SweepPoint]:
    found = session.execute(
        select(ExperimentRow.id, ExperimentRow.sweep_index, ExperimentRow.status, ExperimentRow.spec, ExperimentRow.summary)
        .where(ExperimentRow.sweep_id == sweep_id).order_by(ExperimentRow.sweep_index)).all()
    return [SweepPoint(index=r.sweep_index, experiment_id=r.id, status=r.status, spec=r.spec, summary=r.summary)
            for r in found]


def recent_sweep_ids(store: Store, limit: int, after: Key | None = None) -> tuple[list[str], Key | None]:
    """Newest first, past `after`; with the key of the last one shown when more follow."""
    with store.session() as session:
        rows, next_key = split_page(list(session.scalars(keyset_select(SweepRow, limit, after, newest_first=True))), limit)
        return [row.id for row in rows], next_key
