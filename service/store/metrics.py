"""What /metrics reports about jobs, read from the database at scrape time
(so it is right however many API and worker processes there are)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gradatlas.service.store.gateway import Store
from gradatlas.service.store.tables import ExperimentRow
from sqlalchemy import case, func, select


@dataclass(frozen=True)
class JobCounts:
    by_status: dict[str, int]
    queued_by_queue: dict[str, int]
    # run time of succeeded experiments: how many took at most each bound, how many in all, their sum
    within: list[int]
    runs: int
    run_seconds: float


def job_counts(store: Store, duration_bounds: tuple[float, ...]) -> JobCounts:
    with store.session() as session:
        by_status = dict(session.execute(select(ExperimentRow.status, func.count()).group_by(ExperimentRow.status)).all())
        depth = dict(session.execute(select(ExperimentRow.queue, func.count())
                                     .where(ExperimentRow.status == "queued").group_by(ExperimentRow.queue)).all())
        seconds = _seconds_between(store.engine.dialect.name, ExperimentRow.started_at, ExperimentRow.finished_at)
        finished = select(seconds.label("s")).where(ExperimentRow.status == "succeeded").subquery()
        counts = session.execute(select(
            *[func.sum(case((finished.c.s <= bound, 1), else_=0)) for bound in duration_bounds],
            func.count(), func.coalesce(func.sum(finished.c.s), 0.0),
        )).one()
    return JobCounts(by_status={k: int(v) for k, v in by_status.items()}, queued_by_queue={k: int(v) for k, v in depth.items()},
                     within=[int(count or 0) for count in counts[:-2]], runs=int(counts[-2]), run_seconds=float(counts[-1]))


def _seconds_between(dialect: str, start: Any, end: Any) -> Any:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)
