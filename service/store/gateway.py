"""The Store: the experiment lifecycle (submit, claim, heartbeat, complete,
cancel, recover) and the reads of experiments and profiles.

Each lifecycle transition is one guarded UPDATE (compare-and-set on `status`
and, for a worker, on its `lease`), so duplicate deliveries, lost workers and
the recovery task can race freely without a job running twice in effect or a
terminal state ever changing. Returns pydantic models, never ORM rows. The
other tables' reads and writes live beside it in this package (see
store/__init__.py).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from gradatlas.service.contracts import profile_codec
from gradatlas.service.contracts.errors import Conflict
from gradatlas.service.contracts.resources import (
    TERMINAL,
    Claim,
    Experiment,
    Heartbeat,
    Profile,
    RecoveryReport,
)
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.store.columns import summary_values
from gradatlas.service.store.durations import count_run
from gradatlas.service.store.rows import aware, could_be_id, experiment_row, tag_rows, to_experiment, utcnow, write_profile
from gradatlas.service.store.session import make_engine, managed_session_maker
from gradatlas.service.store.tables import ExperimentRow, ProfileArrayRow, ProfileRow
from sqlalchemy import ColumnElement, Engine, or_, select, text, update
from sqlalchemy.orm import Session


class Store:
    """The experiments and profiles of one database (an engine and its managed sessions)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session = managed_session_maker(engine)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(make_engine(url))

    def ping(self) -> None:
        with self.session() as session:
            session.execute(text("SELECT 1"))

    # --- submit and read ----------------------------------------------------

    def create_experiment(self, spec: ExperimentSpec, owner: str, queue: str) -> Experiment:
        row = experiment_row(spec, owner, queue)
        with self.session() as session:
            session.add(row)
            session.add_all(tag_rows(row.id, row.tags))
            session.flush()
            return to_experiment(row)

    def mark_published(self, experiment_id: str) -> None:
        """A hint for recovery, not a guarantee: on PostgreSQL its commit does
        not wait for the disk (a third of a submit's time under load). If a
        crash loses it, recovery publishes the job again, and a duplicate
        delivery finds nothing to claim."""
        with self.session() as session:
            if self.engine.dialect.name == "postgresql":
                session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            session.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id == experiment_id, ExperimentRow.status == "queued")
                .values(published_at=utcnow())
            )

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        if not could_be_id(experiment_id):
            return None
        with self.session() as session:
            row = session.get(ExperimentRow, experiment_id)
            return to_experiment(row) if row else None

    def select_experiments(self, where: list[ColumnElement[bool]], order_by: list[Any],
                           sort_values: list[ColumnElement[Any]], limit: int) -> list[tuple[Experiment, list[Any]]]:
        """Run a history query that search/history.py compiled: up to `limit`
        experiments matching `where`, in `order_by`, each with its values of
        `sort_values` (the keyset its page token continues from)."""
        query = select(ExperimentRow, *sort_values).where(*where).order_by(*order_by).limit(limit)
        with self.session() as session:
            return [(to_experiment(row[0]), [_aware_value(value) for value in row[1:]])
                    for row in session.execute(query).all()]

    def get_profile_arrays(self, experiment_id: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, np.ndarray]] | None:
        if not could_be_id(experiment_id):
            return None
        with self.session() as session:
            profile = session.get(ProfileRow, experiment_id)
            if profile is None:
                return None
            rows = session.scalars(select(ProfileArrayRow).where(ProfileArrayRow.experiment_id == experiment_id)).all()
            arrays = {row.name: profile_codec.decode(row.dtype, row.shape, row.data) for row in rows}
            return profile.layers, profile.theory, arrays

    def get_profile(self, experiment_id: str) -> Profile | None:
        found = self.get_profile_arrays(experiment_id)
        if found is None:
            return None
        layers, theory, arrays = found
        metrics = {name.removeprefix("metric."): profile_codec.to_json_values(values)
                   for name, values in arrays.items() if name.startswith("metric.")}
        return Profile.model_validate({
            "layers": layers, "theory": theory, "metrics": metrics,
            "steps": arrays["steps"].tolist(),
            "loss": profile_codec.to_json_values(arrays["loss"]),
            "accuracy": profile_codec.to_json_values(arrays.get("accuracy", np.empty(0))),
        })

    # --- cancel -------------------------------------------------------------

    def request_cancel(self, experiment_id: str) -> Experiment | None:
        """Queued: cancelled at once. Running: flagged; the worker stops at its
        next heartbeat. Already cancelled: unchanged (idempotent)."""
        with self.session() as session:
            now = utcnow()
            session.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id == experiment_id, ExperimentRow.status == "queued")
                .values(status="cancelled", reason="cancelled", finished_at=now, cancel_requested=True)
            )
            session.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id == experiment_id, ExperimentRow.status == "running")
                .values(cancel_requested=True)
            )
            row = session.get(ExperimentRow, experiment_id)
            if row is None:
                return None
            if row.status in ("succeeded", "failed"):
                raise Conflict(f"experiment already {row.status}")
            return to_experiment(row)

    # --- the worker's side --------------------------------------------------

    def claim(self, experiment_id: str, environment: dict[str, Any]) -> Claim | None:
        """One atomic UPDATE: queued → running with a fresh lease. None means
        another worker has it or it is finished: the delivery is a duplicate."""
        lease, now = secrets.token_hex(16), utcnow()
        with self.session() as session:
            result = session.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id == experiment_id, ExperimentRow.status == "queued",
                       ExperimentRow.cancel_requested.is_(False))
                .values(status="running", attempt=ExperimentRow.attempt + 1, lease=lease,
                        heartbeat_at=now, started_at=now, environment=environment)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get_one(ExperimentRow, experiment_id)
            return Claim(experiment_id=row.id, lease=lease, attempt=row.attempt, spec=row.spec)

    def heartbeat(self, claim: Claim, step: int, total: int) -> Heartbeat:
        with self.session() as session:
            result = session.execute(
                update(ExperimentRow)
                .where(*_held(claim))
                .values(heartbeat_at=utcnow(), progress_step=step, progress_total=total)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return Heartbeat(alive=False, cancel_requested=False)
            cancel = session.scalar(select(ExperimentRow.cancel_requested).where(ExperimentRow.id == claim.experiment_id))
            return Heartbeat(alive=True, cancel_requested=bool(cancel))

    def complete(self, claim: Claim, profile: dict[str, Any], summary: dict[str, Any],
                 environment: dict[str, Any]) -> bool:
        """Profile, summary, `succeeded` and the run's place in the duration
        histogram (store/durations.py) in one transaction, guarded by the lease."""
        with self.session() as session:
            values: dict[str, Any] = {
                "status": "succeeded", "summary": summary, "environment": environment,
                "finished_at": utcnow(), "lease": None, "progress_step": profile["total_steps"],
                **summary_values(summary),
            }
            result = session.execute(update(ExperimentRow).where(*_held(claim)).values(**values))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                return False
            write_profile(session, claim.experiment_id, profile)
            count_run(session, _run_seconds(session, claim.experiment_id, values["finished_at"]))
            return True

    def finish(self, claim: Claim, status: str, reason: str, error: str | None = None) -> bool:
        """End a claimed run as `failed` or `cancelled` (guarded by the lease)."""
        assert status in ("failed", "cancelled")
        with self.session() as session:
            result = session.execute(
                update(ExperimentRow).where(*_held(claim))
                .values(status=status, reason=reason, error=error, finished_at=utcnow(), lease=None)
            )
            return result.rowcount == 1  # type: ignore[attr-defined]

    # --- recovery of lost work ------------------------------------------------

    def recover(self, requeue_after_s: float, stale_after_s: float, max_attempts: int) -> RecoveryReport:
        """Re-publish queued jobs whose message may be lost; return running jobs
        whose worker stopped heartbeating to the queue (or fail them after
        `max_attempts`). Every change is a compare-and-set on the row it saw."""
        now, report = utcnow(), RecoveryReport()
        publish_before = now - timedelta(seconds=requeue_after_s)
        stale_before = now - timedelta(seconds=stale_after_s)
        with self.session() as session:
            stale = session.execute(
                select(ExperimentRow.id, ExperimentRow.lease, ExperimentRow.attempt,
                       ExperimentRow.cancel_requested, ExperimentRow.queue)
                .where(ExperimentRow.status == "running", ExperimentRow.heartbeat_at < stale_before)
            ).all()
        for experiment_id, lease, attempt, cancel, queue in stale:
            outcome = _recover_one(self, experiment_id, lease, attempt, cancel, max_attempts, stale_before)
            if outcome == "queued":
                report.requeued.append(experiment_id)
                report.republish.append((experiment_id, queue))
            elif outcome == "failed":
                report.failed.append(experiment_id)
        with self.session() as session:
            lost = session.execute(
                select(ExperimentRow.id, ExperimentRow.queue).where(
                    ExperimentRow.status == "queued",
                    or_(ExperimentRow.published_at.is_(None), ExperimentRow.published_at < publish_before),
                )
            ).all()
            report.republish.extend((row.id, row.queue) for row in lost)
        return report


def _held(claim: Claim) -> tuple[Any, ...]:
    return (ExperimentRow.id == claim.experiment_id, ExperimentRow.lease == claim.lease,
            ExperimentRow.status == "running")


def _run_seconds(session: Session, experiment_id: str, finished_at: datetime) -> float:
    """The run's time from its claim (`started_at`) to `finished_at`."""
    started_at = aware(session.scalar(select(ExperimentRow.started_at).where(ExperimentRow.id == experiment_id)))
    return (finished_at - started_at).total_seconds() if started_at else 0.0


def _recover_one(store: Store, experiment_id: str, lease: str | None, attempt: int, cancel: bool,
                 max_attempts: int, stale_before: datetime) -> str | None:
    if cancel:
        values: dict[str, Any] = {"status": "cancelled", "reason": "cancelled", "finished_at": utcnow()}
    elif attempt >= max_attempts:
        values = {"status": "failed", "reason": "worker_lost", "finished_at": utcnow(),
                  "error": f"the worker running it stopped answering on each of {attempt} attempts"}
    else:
        values = {"status": "queued", "published_at": utcnow()}
    with store.session() as session:
        result = session.execute(
            update(ExperimentRow)
            .where(ExperimentRow.id == experiment_id, ExperimentRow.status == "running",
                   ExperimentRow.lease == lease, ExperimentRow.heartbeat_at < stale_before)
            .values(lease=None, **values)
        )
        return str(values["status"]) if result.rowcount == 1 else None  # type: ignore[attr-defined]


def _aware_value(value: Any) -> Any:
    return aware(value) if isinstance(value, datetime) else value


__all__ = ["Store", "Conflict", "TERMINAL", "utcnow"]
