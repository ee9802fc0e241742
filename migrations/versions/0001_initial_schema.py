"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-30 23:18:49.662024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('experiments',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('queue', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('lease', sa.String(length=32), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('progress_step', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.Column('environment', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('arch', sa.String(length=16), nullable=False),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('activation', sa.String(length=16), nullable=False),
    sa.Column('init_scheme', sa.String(length=32), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('signal_ratio_init', sa.Float(), nullable=True),
    sa.Column('grad_ratio_init', sa.Float(), nullable=True),
    sa.Column('grad_ratio_final', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_experiments_activation'), ['activation'], unique=False)
        batch_op.create_index(batch_op.f('ix_experiments_arch'), ['arch'], unique=False)
        batch_op.create_index('ix_experiments_created_id', ['created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_experiments_depth'), ['depth'], unique=False)
        batch_op.create_index(batch_op.f('ix_experiments_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_experiments_status'), ['status'], unique=False)
        batch_op.create_index('ix_experiments_status_published', ['status', 'published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_experiments_verdict'), ['verdict'], unique=False)

    op.create_table('tokens',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_name'), ['name'], unique=False)

    op.create_table('profile_arrays',
    sa.Column('experiment_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('dtype', sa.String(length=8), nullable=False),
    sa.Column('shape', sa.JSON(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('experiment_id', 'name')
    )
    op.create_table('profiles',
    sa.Column('experiment_id', sa.String(length=32), nullable=False),
    sa.Column('layers', sa.JSON(), nullable=False),
    sa.Column('theory', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('experiment_id')
    )


def downgrade() -> None:
    op.drop_table('profiles')
    op.drop_table('profile_arrays')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_name'))

    op.drop_table('tokens')
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiments_verdict'))
        batch_op.drop_index('ix_experiments_status_published')
        batch_op.drop_index(batch_op.f('ix_experiments_status'))
        batch_op.drop_index(batch_op.f('ix_experiments_owner'))
        batch_op.drop_index(batch_op.f('ix_experiments_depth'))
        batch_op.drop_index('ix_experiments_created_id')
        batch_op.drop_index(batch_op.f('ix_experiments_arch'))
        batch_op.drop_index(batch_op.f('ix_experiments_activation'))

    op.drop_table('experiments')
