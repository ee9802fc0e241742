"""Fixtures: every test that stores anything gets a fresh database and broker
on the backend CI names (PostgreSQL + Redis), else the embedded SQLite ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import SERVICES_BROKER_URL, SERVICES_DATABASE_URL, fresh_broker, fresh_database, migrated_settings


def pytest_report_header() -> str:
    backend = "PostgreSQL + Redis" if SERVICES_DATABASE_URL else "embedded SQLite database and SQLite broker"
    return f"gradatlas backend: {backend}"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, SERVICES_DATABASE_URL) as url:
        yield url


@pytest.fixture
def broker_url(tmp_path: Path) -> str:
    return fresh_broker(tmp_path, SERVICES_BROKER_URL)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, broker_url: str):  # type: ignore[no-untyped-def]
    return migrated_settings(tmp_path / "home", database_url, broker_url)


@pytest.fixture
def store(settings):  # type: ignore[no-untyped-def]
    from gradatlas.service.store.gateway import Store

    store = Store.from_url(settings.database_url)
    yield store
    store.engine.dispose()

