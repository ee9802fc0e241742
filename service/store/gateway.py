"""The store: every read and write of experiments and profiles.

Each lifecycle transition is one guarded UPDATE (compare-and-set on `status`
and, for a worker, on its `lease`), so duplicate deliveries, lost workers and
the sweeper can race freely without a job running twice in effect or a
terminal state ever changing. Returns pydantic models, never ORM rows.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from gradatlas.service.contracts import profile_codec
from gradatlas.service.contracts.errors import Conflict
from gradatlas.service.contracts.resources import (
    TERMINAL,
    Claim,
    Experiment,
    ExperimentPage,
    Heartbeat,
    Profile,
    Progress,
    SweepReport,
)
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.store.rows import experiment_row, tag_rows
from gradatlas.service.store.session import make_engine, managed_session_maker
from gradatlas.service.store.tables import ExperimentRow, ProfileArrayRow, ProfileRow
from sqlalchemy import Engine, and_, delete, or_, select, text, update
from sqlalchemy.orm import Session

SUMMARY_COLUMNS = ("verdict", "signal_ratio_init", "grad_ratio_init", "grad_ratio_final",
                   "layer_gain_init", "final_loss", "final_accuracy")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session = managed_session_maker(engine)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(make_engine(url))

    def ping(self) -> None:
        with self.session() as session:
            session.execute(text("SELECT 1"))

    # --- submit, read, list -------------------------------------------------

    def create_experiment(self, spec: ExperimentSpec, owner: str, queue: str) -> Experiment:
        row = experiment_row(spec, owner, queue)
        with self.session() as session:
            session.add(row)
            session.add_all(tag_rows(row.id, row.tags))
            session.flush()
            return _to_experiment(row)

    def mark_published(self, experiment_id: str) -> None:
        """A hint for the sweeper, not a guarantee: on PostgreSQL its commit does
        not wait for the disk (a third of a submit's time under load). If a
        crash loses it, the sweeper publishes the job again, and a duplicate
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
        with self.session() as session:
            row = session.get(ExperimentRow, experiment_id)
            return _to_experiment(row) if row else None

    def list_experiments(self, limit: int = 50, page_token: str | None = None) -> ExperimentPage:
        """Newest first, keyset-paged on (created_at, id): stable under inserts."""
        query = select(ExperimentRow).order_by(ExperimentRow.created_at.desc(), ExperimentRow.id.desc())
        if page_token:
            created_at, last_id = decode_page_token(page_token)
            query = query.where(or_(
                ExperimentRow.created_at < created_at,
                and_(ExperimentRow.created_at == created_at, ExperimentRow.id < last_id),
            ))
        with self.session() as session:
            rows = session.scalars(query.limit(limit + 1)).all()
            items = [_to_experiment(row) for row in rows[:limit]]
        next_token = encode_page_token(rows[limit - 1]) if len(rows) > limit else None
        return ExperimentPage(items=items, next_page_token=next_token)

    def get_profile_arrays(self, experiment_id: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, np.ndarray]] | None:
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
            return _to_experiment(row)

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
        """Profile, summary and `succeeded` in one transaction, guarded by the lease."""
        with self.session() as session:
            values: dict[str, Any] = {
                "status": "succeeded", "summary": summary, "environment": environment,
                "finished_at": utcnow(), "lease": None, "progress_step": profile["total_steps"],
                **{column: summary.get(column) for column in SUMMARY_COLUMNS},
            }
            result = session.execute(update(ExperimentRow).where(*_held(claim)).values(**values))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                return False
            _write_profile(session, claim.experiment_id, profile)
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

    # --- the sweeper ----------------------------------------------------------

    def sweep(self, requeue_after_s: float, stale_after_s: float, max_attempts: int) -> SweepReport:
        """Re-publish queued jobs whose message may be lost; return running jobs
        whose worker stopped heartbeating to the queue (or fail them after
        `max_attempts`). Every change is a compare-and-set on the row it saw."""
        now, report = utcnow(), SweepReport()
        publish_before = now - timedelta(seconds=requeue_after_s)
        stale_before = now - timedelta(seconds=stale_after_s)
        with self.session() as session:
            stale = session.execute(
                select(ExperimentRow.id, ExperimentRow.lease, ExperimentRow.attempt,
                       ExperimentRow.cancel_requested, ExperimentRow.queue)
                .where(ExperimentRow.status == "running", ExperimentRow.heartbeat_at < stale_before)
            ).all()
        for experiment_id, lease, attempt, cancel, queue in stale:
            outcome = _recover(self, experiment_id, lease, attempt, cancel, max_attempts, stale_before)
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


def _recover(store: Store, experiment_id: str, lease: str | None, attempt: int, cancel: bool,
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


def _write_profile(session: Session, experiment_id: str, profile: dict[str, Any]) -> None:
    session.execute(delete(ProfileArrayRow).where(ProfileArrayRow.experiment_id == experiment_id))
    session.execute(delete(ProfileRow).where(ProfileRow.experiment_id == experiment_id))
    session.add(ProfileRow(experiment_id=experiment_id, layers=profile["layers"], theory=profile.get("theory")))
    arrays = {"steps": profile["steps"], "loss": profile["loss"], "accuracy": profile["accuracy"],
              **{f"metric.{name}": values for name, values in profile["metrics"].items()}}
    for name, values in arrays.items():
        dtype, shape, data = profile_codec.encode(values, exact=name in ("loss", "accuracy"))
        session.add(ProfileArrayRow(experiment_id=experiment_id, name=name, dtype=dtype, shape=shape, data=data))


def _to_experiment(row: ExperimentRow) -> Experiment:
    return Experiment(
        id=row.id, name=row.name, tags=row.tags, notes=row.notes, owner=row.owner, source=row.source,
        status=row.status,  # type: ignore[arg-type]
        reason=row.reason, error=row.error, attempt=row.attempt, cancel_requested=row.cancel_requested,
        progress=Progress(step=row.progress_step, total=row.progress_total),
        spec=row.spec, summary=row.summary, environment=row.environment,
        created_at=aware(row.created_at), started_at=aware(row.started_at),  # type: ignore[arg-type]
        finished_at=aware(row.finished_at),
    )


def encode_page_token(row: ExperimentRow) -> str:
    raw = json.dumps([aware(row.created_at).isoformat(), row.id])  # type: ignore[union-attr]
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, str]:
    """Raises ValueError on a token this service did not make."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, last_id = json.loads(raw)
        return datetime.fromisoformat(created_at), str(last_id)
    except Exception as exc:  # any garbage is the client's error, not ours
        raise ValueError("page_token is not a token this service issued") from exc


__all__ = ["Store", "Conflict", "TERMINAL", "utcnow"]
