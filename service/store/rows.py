"""Rows and resources: every new experiment row is built here (submit,
sweeps and imports alike, so the hot columns and the tags table always match
the stored spec and summary), and every row becomes a resource here."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from gradatlas.service.contracts import profile_codec
from gradatlas.service.contracts.resources import Experiment, Progress
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.contracts.text import first_unsafe
from gradatlas.service.store.columns import hot_values
from gradatlas.service.store.tables import ExperimentRow, ExperimentTagRow, ProfileArrayRow, ProfileRow
from sqlalchemy import delete
from sqlalchemy.orm import Session


def new_id() -> str:
    return secrets.token_hex(12)


def could_be_id(key: str) -> bool:
    """Whether `key` could name a stored row. No id holds a control character;
    PostgreSQL refuses even to compare a NUL (a DataError, answered 503 'retry'),
    where SQLite finds no row, so such a key is looked up on neither."""
    return first_unsafe(key) is None


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def new_row(document: dict[str, Any], hot: dict[str, Any], *, owner: str, queue: str, name: str, tags: list[str],
            notes: str, **values: Any) -> ExperimentRow:
    """A new row storing `document` as its spec and `hot` in the indexed
    columns; `values` set (or override) any other column."""
    defaults: dict[str, Any] = {"id": new_id(), "status": "queued", "attempt": 0, "progress_step": 0,
                                "created_at": utcnow()}
    return ExperimentRow(**{**defaults, **values}, name=name, tags=list(tags), notes=notes, owner=owner,
                         queue=queue, spec=document, **hot)


def experiment_row(spec: ExperimentSpec, owner: str, queue: str, **values: Any) -> ExperimentRow:
    """A new `queued` row for a validated spec."""
    return new_row(spec.model_dump(mode="json"), hot_values(spec), owner=owner, queue=queue, name=spec.name,
                   tags=list(spec.tags), notes=spec.notes, progress_total=spec.training.steps, **values)


def tag_rows(experiment_id: str, tags: list[str]) -> list[ExperimentTagRow]:
    return [ExperimentTagRow(experiment_id=experiment_id, tag=tag) for tag in sorted(set(tags))]


def write_profile(session: Session, experiment_id: str, profile: dict[str, Any]) -> None:
    """Replace the experiment's profile: layers and theory in one row, each
    array (steps, loss, accuracy, every metric) in its own."""
    session.execute(delete(ProfileArrayRow).where(ProfileArrayRow.experiment_id == experiment_id))
    session.execute(delete(ProfileRow).where(ProfileRow.experiment_id == experiment_id))
    session.add(ProfileRow(experiment_id=experiment_id, layers=profile["layers"], theory=profile.get("theory")))
    arrays = {"steps": profile["steps"], "loss": profile["loss"], "accuracy": profile["accuracy"],
              **{f"metric.{name}": values for name, values in profile["metrics"].items()}}
    for name, values in arrays.items():
        dtype, shape, data = profile_codec.encode(values, exact=name in ("loss", "accuracy"))
        session.add(ProfileArrayRow(experiment_id=experiment_id, name=name, dtype=dtype, shape=shape, data=data))


def to_experiment(row: ExperimentRow) -> Experiment:
    """The resource docs/api.md shows for a row (never the ORM object itself)."""
    return Experiment(
        id=row.id, name=row.name, tags=row.tags, notes=row.notes, owner=row.owner, source=row.source,
        status=row.status,  # type: ignore[arg-type]
        reason=row.reason, error=row.error, attempt=row.attempt, cancel_requested=row.cancel_requested,
        progress=Progress(step=row.progress_step, total=row.progress_total),
        spec=row.spec, summary=row.summary, environment=row.environment,
        created_at=aware(row.created_at), started_at=aware(row.started_at),  # type: ignore[arg-type]
        finished_at=aware(row.finished_at),
    )
