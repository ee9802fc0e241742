"""Edits of the history: rename, retag, annotate, delete, and profiles
imported from users' own training loops.

Kept beside the Store rather than inside it so the lifecycle code stays
small; every write here goes through the store's managed session and keeps
the tags table equal to the JSON copy the resource shows.
"""

from __future__ import annotations

from typing import Any

from gradatlas.service.contracts.resources import Experiment
from gradatlas.service.contracts.text import TAGS_AT_MOST, FreeText, Line, Tag
from gradatlas.service.store.columns import summary_values
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.rows import new_row, tag_rows, to_experiment, utcnow, write_profile
from gradatlas.service.store.tables import ExperimentRow, ExperimentTagRow, ProfileArrayRow, ProfileRow
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete


class ExperimentPatch(BaseModel):
    """PATCH /api/v1/experiments/{id}: any of name, tags, notes."""

    model_config = ConfigDict(extra="forbid")
    name: Line | None = Field(None, max_length=200)
    tags: list[Tag] | None = Field(None, max_length=TAGS_AT_MOST)
    notes: FreeText | None = Field(None, max_length=10000)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags is not None and any(not tag or len(tag) > 64 for tag in tags):
            raise ValueError("each tag must be 1 to 64 characters")
        return tags


def update_experiment(store: Store, experiment_id: str, patch: ExperimentPatch) -> Experiment | None:
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    with store.session() as session:
        row = session.get(ExperimentRow, experiment_id)
        if row is None:
            return None
        for key, value in changes.items():
            setattr(row, key, value)
        if "tags" in changes:
            session.execute(delete(ExperimentTagRow).where(ExperimentTagRow.experiment_id == experiment_id))
            session.add_all(tag_rows(experiment_id, changes["tags"]))
        session.flush()
        return to_experiment(row)


def delete_experiment(store: Store, experiment_id: str) -> bool:
    """The row, its tags and its profile, in one transaction (no reliance on
    the database enforcing ON DELETE CASCADE)."""
    with store.session() as session:
        for table in (ProfileArrayRow, ProfileRow, ExperimentTagRow):
            session.execute(delete(table).where(table.experiment_id == experiment_id))
        result = session.execute(delete(ExperimentRow).where(ExperimentRow.id == experiment_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def store_import(store: Store, owner: str, spec: dict[str, Any], hot: dict[str, Any], name: str, tags: list[str],
                 notes: str, profile: dict[str, Any], summary: dict[str, Any], environment: dict[str, Any]) -> Experiment:
    """A profile recorded elsewhere becomes a `succeeded` experiment with
    source `import`: the same row, columns and profile tables as a run."""
    now, total = utcnow(), int(profile["steps"][-1]) + 1 if profile["steps"] else 0
    row = new_row(spec, hot, owner=owner, queue="none", name=name, tags=tags, notes=notes, source="import",
                  status="succeeded", summary=summary, environment=environment, progress_step=total,
                  progress_total=total, created_at=now, started_at=now, finished_at=now, **summary_values(summary))
    with store.session() as session:
        session.add(row)
        session.add_all(tag_rows(row.id, row.tags))
        session.flush()
        write_profile(session, row.id, profile)
        return to_experiment(row)
