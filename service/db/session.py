"""Engines and the one managed-session helper (MLflow's pattern): every unit
of work commits on success, rolls back on error, and always closes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pool_pre_ping: a connection killed by a database restart is replaced,
    # not handed to a request; connect_timeout keeps an outage from hanging.
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )


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
