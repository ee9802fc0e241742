"""What /metrics reports about jobs, read from the database at scrape time
(so it is right however many API and worker processes there are).

Experiments by status and the queue depth are gauges: counted from the rows,
they may go down, as they should. The run-duration histogram is counters, so
it comes from the running totals of store/durations.py, never from the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradatlas.service.store.durations import read_totals
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.tables import ExperimentRow
from sqlalchemy import func, select


@dataclass(frozen=True)
class JobCounts:
    by_status: dict[str, int]
    queued_by_queue: dict[str, int]
    # succeeded runs by bucket upper bound (non-cumulative): (how many, their summed seconds)
    durations: dict[float, tuple[int, float]]


def job_counts(store: Store) -> JobCounts:
    with store.session() as session:
        by_status = dict(session.execute(select(ExperimentRow.status, func.count()).group_by(ExperimentRow.status)).all())
        depth = dict(session.execute(select(ExperimentRow.queue, func.count())
                                     .where(ExperimentRow.status == "queued").group_by(ExperimentRow.queue)).all())
        durations = read_totals(session)
    return JobCounts(by_status={k: int(v) for k, v in by_status.items()},
                     queued_by_queue={k: int(v) for k, v in depth.items()}, durations=durations)
