"""SQLAlchemy 2 models. Alembic's migrations must match these exactly (a test
compares them).

Summary and spec fields that people filter and sort on are copied into
indexed columns, so a history query never touches the JSON blobs or the
profile arrays (those live in their own table).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ExperimentRow(Base):
    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(16), default="service")
    queue: Mapped[str] = mapped_column(String(16), default="cpu")

    # Lifecycle (docs/design.md): the database, not the broker, carries the state.
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease: Mapped[str | None] = mapped_column(String(32), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress_step: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)

    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    # Copies of the hot spec and summary fields (store/columns.py lists them;
    # rows.py fills them on every write), so a history query filters and sorts
    # on indexed columns. The summary's are NULL until a run succeeds.
    arch: Mapped[str] = mapped_column(String(16), index=True)
    depth: Mapped[int] = mapped_column(Integer, index=True)
    width: Mapped[int] = mapped_column(Integer)
    activation: Mapped[str] = mapped_column(String(16), index=True)
    init_scheme: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    signal_ratio_init: Mapped[float | None] = mapped_column(Float, nullable=True)
    grad_ratio_init: Mapped[float | None] = mapped_column(Float, nullable=True)
    grad_ratio_final: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Added by migration 0002 (and backfilled from the JSON there). Nullable:
    # an import without a spec has no data set, optimizer or rates.
    data_name: Mapped[str | None] = mapped_column(String(16), nullable=True)
    optimizer: Mapped[str | None] = mapped_column(String(16), nullable=True)
    lr: Mapped[float | None] = mapped_column(Float, nullable=True)
    weight_var: Mapped[float | None] = mapped_column(Float, nullable=True)
    layer_gain_init: Mapped[float | None] = mapped_column(Float, nullable=True)
    final_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    final_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The sweep a row is a point of, and the point's index (the order of the sweep's table).
    sweep_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("sweeps.id", ondelete="SET NULL", name="fk_experiments_sweep_id"), nullable=True
    )
    sweep_index: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        # Keyset pagination walks (created_at, id) newest first.
        Index("ix_experiments_created_id", "created_at", "id"),
        Index("ix_experiments_status_published", "status", "published_at"),
        # History queries: filter on one hot field, sort newest first or by a ratio.
        Index("ix_experiments_activation_depth", "activation", "depth"),
        Index("ix_experiments_activation_created", "activation", "created_at", "id"),
        Index("ix_experiments_owner_created", "owner", "created_at", "id"),
        Index("ix_experiments_verdict_created", "verdict", "created_at", "id"),
        Index("ix_experiments_signal_ratio", "signal_ratio_init", "id"),
        Index("ix_experiments_grad_ratio_init", "grad_ratio_init", "id"),
        Index("ix_experiments_final_loss", "final_loss", "id"),
        Index("ix_experiments_lr", "lr"),
        Index("ix_experiments_weight_var", "weight_var"),
        Index("ix_experiments_sweep", "sweep_id", "sweep_index"),
    )


class ExperimentTagRow(Base):
    """One tag of an experiment: `tags CONTAINS 'x'` is an indexed EXISTS on
    this table, the same SQL on SQLite and PostgreSQL (the JSON copy in
    `experiments.tags` is what the resource shows)."""

    __tablename__ = "experiment_tags"

    experiment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_experiment_tags_tag", "tag", "experiment_id"),)


class SweepRow(Base):
    """A grid or random sweep: its base spec and axes; its points are
    experiments with `sweep_id` set (ordered by `sweep_index`)."""

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    owner: Mapped[str] = mapped_column(String(64), index=True)
    base: Mapped[dict[str, Any]] = mapped_column(JSON)
    axes: Mapped[list[str]] = mapped_column(JSON)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ProfileArrayRow(Base):
    """One recorded array of a profile (a metric, the steps, the loss), stored
    as raw little-endian bytes: float32 where the values fit, else float64."""

    __tablename__ = "profile_arrays"

    experiment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    dtype: Mapped[str] = mapped_column(String(8))
    shape: Mapped[list[int]] = mapped_column(JSON)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ProfileRow(Base):
    """What a profile says besides its arrays: the layers and the theory."""

    __tablename__ = "profiles"

    experiment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    layers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    theory: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class TokenRow(Base):
    """An API token. Only an HMAC of its secret part is kept (with a pepper
    that lives outside the database); `id` is the public prefix used to find it."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RunDurationRow(Base):
    """Running totals of the run-duration histogram, one row per bucket
    (store/durations.py says why they are not counted from experiment rows):
    rows only ever grow, and deleting experiments never touches them."""

    __tablename__ = "run_durations"

    le: Mapped[str] = mapped_column(String(16), primary_key=True)  # the bucket's upper bound, as Prometheus spells it
    runs: Mapped[int] = mapped_column(Integer)  # runs that fell in this bucket alone (not cumulative)
    seconds: Mapped[float] = mapped_column(Float)  # their run time, summed


class WebSessionRow(Base):
    """A signed-in browser. The cookie holds a random id; only its SHA-256 is
    kept here, next to the token it acts as (never the token's plaintext), so
    neither a copied cookie nor a leaked table replays past logout, expiry or
    the token's revocation (each deletes the row)."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(String(16), ForeignKey("tokens.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
