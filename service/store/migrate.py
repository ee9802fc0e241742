"""Apply Alembic migrations from code (`gradatlas up`, `gradatlas migrate`, tests)."""

from __future__ import annotations

from pathlib import Path

import gradatlas.migrations
from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(gradatlas.migrations.__file__).parent))
    # Alembic's Config treats % as interpolation: escape it in passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")
