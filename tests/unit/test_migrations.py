"""Migrations match the models: `alembic upgrade head` on an empty database
leaves nothing for autogenerate to find."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from gradatlas.service.store.migrate import upgrade
from gradatlas.service.store.session import make_engine
from gradatlas.service.store.tables import Base
from sqlalchemy import inspect


def test_upgrade_head_on_an_empty_database_matches_the_models(database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert differences == []
    assert {"experiments", "profiles", "profile_arrays", "tokens", "alembic_version"} <= tables


def test_upgrade_is_idempotent(database_url):
    from alembic.script import ScriptDirectory
    from gradatlas.service.store.migrate import alembic_config

    upgrade(database_url)
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    assert current == ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
