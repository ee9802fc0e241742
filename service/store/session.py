"""Engines and the one managed-session helper (MLflow's pattern): every unit
of work commits on success, rolls back on error, and always closes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

PING_AFTER_IDLE_S = 1.0


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # connect_timeout keeps an outage from hanging a request.
    engine = create_engine(url, pool_size=5, max_overflow=5, pool_timeout=5, connect_args={"connect_timeout": 5})
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """A connection that sat idle in the pool for PING_AFTER_IDLE_S is pinged
    before a request gets it, and replaced if the database dropped it (a
    restart, an idle timeout). SQLAlchemy's pool_pre_ping pings at every
    checkout instead: a round trip that was a tenth of a poll's time under load
    (benchmarks/service_throughput.py). A connection used within the last
    second skips it; were the database restarted inside that second, one
    request per process gets the usual 503 and the pool is refreshed."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure: the pool connects afresh and retries
            raise DisconnectionError(f"stale pooled connection: {exc.__class__.__name__}") from exc
        if not alive:
            raise DisconnectionError("stale pooled connection")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the API read while the worker writes; the busy timeout makes
    concurrent writers wait instead of failing at once; LIKE matches case as
    PostgreSQL's does, so a history query means the same on both."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # LIKE is case-sensitive, as on PostgreSQL (history queries must agree).
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.close()


def managed_session_maker(engine: Engine) -> Callable[[], AbstractContextManager[Session]]:
    factory = sessionmaker(bind=engine, expire_on_commit=False)

    @contextmanager
    def managed_session() -> Iterator[Session]:
        session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    return managed_session
