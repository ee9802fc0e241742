"""run durations: the run-duration histogram as running totals

A table of per-bucket totals that only grows (service/store/durations.py says
why): /metrics no longer counts experiment rows, so deleting experiments never
lowers the histogram. Existing worker runs that succeeded are counted into it
here, so the counter carries on from where the old count stood.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 00:10:00.000000
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# The bounds as they were when this migration was written (a migration never reads code that may change).
BOUNDS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)


def upgrade() -> None:
    op.create_table('run_durations',
    sa.Column('le', sa.String(length=16), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('le')
    )
    _backfill()


def _backfill() -> None:
    """Count the runs a worker finished with success (imports are not runs)."""
    experiments = sa.table('experiments', sa.column('status', sa.String), sa.column('source', sa.String),
                           sa.column('started_at', sa.DateTime), sa.column('finished_at', sa.DateTime))
    durations = sa.table('run_durations', sa.column('le', sa.String), sa.column('runs', sa.Integer),
                         sa.column('seconds', sa.Float))
    connection = op.get_bind()
    rows = connection.execute(sa.select(experiments.c.started_at, experiments.c.finished_at).where(
        experiments.c.status == 'succeeded', experiments.c.source == 'service',
        experiments.c.started_at.is_not(None), experiments.c.finished_at.is_not(None)))
    totals: dict[str, list[float]] = {}
    for started_at, finished_at in rows:
        seconds = max(0.0, (_aware(finished_at) - _aware(started_at)).total_seconds())
        bound = next((b for b in BOUNDS if seconds <= b), math.inf)
        total = totals.setdefault('+Inf' if math.isinf(bound) else repr(float(bound)), [0, 0.0])
        total[0] += 1
        total[1] += seconds
    for le, (runs, seconds) in totals.items():
        connection.execute(durations.insert().values(le=le, runs=int(runs), seconds=seconds))


def _aware(value: datetime | str) -> datetime:
    """SQLite hands back naive datetimes (or text, read through a bare table); everything stored is UTC."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def downgrade() -> None:
    op.drop_table('run_durations')
