"""New experiment rows: the spec's hot fields copied into their indexed
columns and its tags into the tags table, in one place for every writer
(submit, sweeps), so a history query sees every row the same way."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.store.tables import ExperimentRow, ExperimentTagRow


def new_id() -> str:
    return secrets.token_hex(12)


def experiment_row(spec: ExperimentSpec, owner: str, queue: str, **extra: Any) -> ExperimentRow:
    """A new `queued` row with the spec's hot fields copied into their columns."""
    model, training = spec.model, spec.training
    return ExperimentRow(
        id=new_id(), name=spec.name, tags=list(spec.tags), notes=spec.notes, owner=owner,
        queue=queue, status="queued", attempt=0, spec=spec.model_dump(mode="json"),
        progress_step=0, progress_total=spec.training.steps, created_at=datetime.now(UTC),
        arch=model.arch, depth=model.depth, width=model.width,
        activation=model.activation, init_scheme=model.init.scheme,
        data_name=spec.data.name, optimizer=training.optimizer, lr=training.lr, weight_var=model.init.weight_var,
        **extra,
    )


def tag_rows(experiment_id: str, tags: list[str]) -> list[ExperimentTagRow]:
    return [ExperimentTagRow(experiment_id=experiment_id, tag=tag) for tag in sorted(set(tags))]
