"""The run-duration histogram as running totals: one row per bucket, added to
in the same transaction that marks a run `succeeded`.

Why a table of totals and not a count of experiment rows: a Prometheus
counter must never go down, or `rate()` reads a reset; counted from rows,
deleting one experiment lowered `gradatlas_run_duration_seconds_count`, and
every scrape scanned the experiments table. Why the database and not a
prometheus_client counter: runs finish in worker processes, whose counters
the API's registry (multi-process mode under gunicorn) never sees; the
database is the one place every process shares. Written inside the guarded
`complete` UPDATE's transaction, a run counts exactly once (a lost lease or a
duplicate delivery writes nothing), and deletes never touch these rows.
A scrape reads a dozen rows, however many experiments there are.
"""

from __future__ import annotations

import math

from gradatlas.service.store.tables import RunDurationRow
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# Upper bounds (seconds) of the buckets; a run longer than the last one counts under +Inf.
DURATION_BOUNDS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)


def bucket_label(bound: float) -> str:
    """Prometheus' `le` spelling of a bound: `0.5`, `1.0`, `+Inf`."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def bucket_of(seconds: float, bounds: tuple[float, ...] = DURATION_BOUNDS) -> str:
    """The smallest bucket a run of `seconds` falls in (non-cumulative)."""
    return bucket_label(next((bound for bound in bounds if seconds <= bound), math.inf))


def count_run(session: Session, seconds: float) -> None:
    """Add one run of `seconds` to its bucket: one atomic upsert (the row is created by the first run in it)."""
    seconds = max(0.0, seconds)
    le = bucket_of(seconds)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(RunDurationRow).values(le=le, runs=1, seconds=seconds)
    session.execute(insert.on_conflict_do_update(index_elements=[RunDurationRow.le], set_={
        "runs": RunDurationRow.runs + 1, "seconds": RunDurationRow.seconds + seconds}))


def read_totals(session: Session) -> dict[float, tuple[int, float]]:
    """Each bucket's bound → (runs that fell in it, their summed seconds); non-cumulative."""
    rows = session.execute(select(RunDurationRow.le, RunDurationRow.runs, RunDurationRow.seconds)).all()
    return {float(le): (int(runs), float(seconds)) for le, runs, seconds in rows}
