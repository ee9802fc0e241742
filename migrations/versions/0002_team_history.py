"""team history: hot spec/summary columns, tags table, sweeps

Adds the denormalised columns and indexes the query language filters and
sorts on, `experiment_tags` (for `tags CONTAINS`), and `sweeps`; existing
rows are back-filled from their JSON so history queries see them too.

A sweep's linkage (the `sweeps` rows and each point's `sweep_id` and
`sweep_index`) is the one thing here not derived from the JSON: downgrade
keeps it in `downgraded_sweeps` and `downgraded_sweep_points`, and upgrade
puts it back, so `downgrade -1` then `upgrade head` loses no sweep.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 23:38:35.068095
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sweeps',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('base', sa.JSON(), nullable=False),
    sa.Column('axes', sa.JSON(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('n_points', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sweeps_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweeps_owner'), ['owner'], unique=False)

    op.create_table('experiment_tags',
    sa.Column('experiment_id', sa.String(length=32), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('experiment_id', 'tag')
    )
    with op.batch_alter_table('experiment_tags', schema=None) as batch_op:
        batch_op.create_index('ix_experiment_tags_tag', ['tag', 'experiment_id'], unique=False)

    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_name', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('optimizer', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('lr', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('weight_var', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('layer_gain_init', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('final_loss', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('final_accuracy', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('sweep_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('sweep_index', sa.Integer(), nullable=True))
        batch_op.create_index('ix_experiments_activation_depth', ['activation', 'depth'], unique=False)
        batch_op.create_index('ix_experiments_activation_created', ['activation', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_experiments_final_loss', ['final_loss', 'id'], unique=False)
        batch_op.create_index('ix_experiments_grad_ratio_init', ['grad_ratio_init', 'id'], unique=False)
        batch_op.create_index('ix_experiments_lr', ['lr'], unique=False)
        batch_op.create_index('ix_experiments_owner_created', ['owner', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_experiments_signal_ratio', ['signal_ratio_init', 'id'], unique=False)
        batch_op.create_index('ix_experiments_sweep', ['sweep_id', 'sweep_index'], unique=False)
        batch_op.create_index('ix_experiments_verdict_created', ['verdict', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_experiments_weight_var', ['weight_var'], unique=False)
        batch_op.create_foreign_key('fk_experiments_sweep_id', 'sweeps', ['sweep_id'], ['id'], ondelete='SET NULL')
    _backfill()
    _restore_sweeps()


def _backfill() -> None:
    """Copy each existing row's tags and hot fields out of its JSON."""
    experiments = sa.table('experiments', sa.column('id', sa.String), sa.column('tags', sa.JSON),
                           sa.column('spec', sa.JSON), sa.column('summary', sa.JSON),
                           *(sa.column(name) for name in ('data_name', 'optimizer', 'lr', 'weight_var',
                                                          'layer_gain_init', 'final_loss', 'final_accuracy')))
    tags = sa.table('experiment_tags', sa.column('experiment_id', sa.String), sa.column('tag', sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(experiments.c.id, experiments.c.tags, experiments.c.spec, experiments.c.summary)).all()
    for row in rows:
        spec, summary = row.spec or {}, row.summary or {}
        values = {'data_name': spec.get('data', {}).get('name'), 'optimizer': spec.get('training', {}).get('optimizer'),
                  'lr': spec.get('training', {}).get('lr'), 'weight_var': spec.get('model', {}).get('init', {}).get('weight_var'),
                  **{key: summary.get(key) for key in ('layer_gain_init', 'final_loss', 'final_accuracy')}}
        connection.execute(experiments.update().where(experiments.c.id == row.id).values(**values))
        for tag in sorted(set(row.tags or [])):
            connection.execute(tags.insert().values(experiment_id=row.id, tag=tag))


KEPT_SWEEPS = 'downgraded_sweeps'
KEPT_POINTS = 'downgraded_sweep_points'


def _restore_sweeps() -> None:
    """Put back the sweeps and points a downgrade kept, then drop the copies."""
    connection = op.get_bind()
    if not sa.inspect(connection).has_table(KEPT_SWEEPS):
        return
    columns = 'id, name, owner, base, axes, definition, n_points, created_at'
    connection.execute(sa.text(f'INSERT INTO sweeps ({columns}) SELECT {columns} FROM {KEPT_SWEEPS}'))
    connection.execute(sa.text(
        f'UPDATE experiments SET '
        f'sweep_id = (SELECT p.sweep_id FROM {KEPT_POINTS} p WHERE p.experiment_id = experiments.id), '
        f'sweep_index = (SELECT p.sweep_index FROM {KEPT_POINTS} p WHERE p.experiment_id = experiments.id) '
        f'WHERE id IN (SELECT experiment_id FROM {KEPT_POINTS})'))
    op.drop_table(KEPT_POINTS)
    op.drop_table(KEPT_SWEEPS)


def _keep_sweeps() -> None:
    """Copy each point's linkage aside before its columns go; the sweeps
    table itself is kept under another name (without its indexes, whose
    names upgrade creates again)."""
    op.create_table(KEPT_POINTS,
                    sa.Column('experiment_id', sa.String(length=32), primary_key=True),
                    sa.Column('sweep_id', sa.String(length=32), nullable=False),
                    sa.Column('sweep_index', sa.Integer(), nullable=True))
    op.get_bind().execute(sa.text(
        f'INSERT INTO {KEPT_POINTS} (experiment_id, sweep_id, sweep_index) '
        f'SELECT id, sweep_id, sweep_index FROM experiments WHERE sweep_id IS NOT NULL'))


def downgrade() -> None:
    _keep_sweeps()
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.drop_constraint('fk_experiments_sweep_id', type_='foreignkey')
        batch_op.drop_index('ix_experiments_weight_var')
        batch_op.drop_index('ix_experiments_verdict_created')
        batch_op.drop_index('ix_experiments_sweep')
        batch_op.drop_index('ix_experiments_signal_ratio')
        batch_op.drop_index('ix_experiments_owner_created')
        batch_op.drop_index('ix_experiments_lr')
        batch_op.drop_index('ix_experiments_grad_ratio_init')
        batch_op.drop_index('ix_experiments_final_loss')
        batch_op.drop_index('ix_experiments_activation_depth')
        batch_op.drop_index('ix_experiments_activation_created')
        batch_op.drop_column('sweep_index')
        batch_op.drop_column('sweep_id')
        batch_op.drop_column('final_accuracy')
        batch_op.drop_column('final_loss')
        batch_op.drop_column('layer_gain_init')
        batch_op.drop_column('weight_var')
        batch_op.drop_column('lr')
        batch_op.drop_column('optimizer')
        batch_op.drop_column('data_name')

    with op.batch_alter_table('experiment_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_experiment_tags_tag')

    op.drop_table('experiment_tags')
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sweeps_owner'))
        batch_op.drop_index(batch_op.f('ix_sweeps_created_at'))

    op.rename_table('sweeps', KEPT_SWEEPS)
