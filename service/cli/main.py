"""The `gradatlas` command."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gradatlas.service.contracts.settings import Settings

SERVER_EXTRA = "pip install 'gradatlas[server]'"


def get_settings() -> Settings:
    """The local commands (up, migrate, token) need the server's packages; the
    remote ones (submit, ls, …) do not, so a client-only install imports them
    only here and says which extra is missing."""
    try:
        from gradatlas.service.contracts.settings import get_settings as read_settings
        from gradatlas.service.store import migrate  # noqa: F401  (SQLAlchemy, Alembic)
    except ModuleNotFoundError as missing:
        raise click.ClickException(f"this command runs the server and needs {missing.name}: {SERVER_EXTRA}") from None
    return read_settings()


@click.group()
def main() -> None:
    """GradAtlas: diagnose vanishing and exploding gradients."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address the API listens on")
@click.option("--port", default=8000, show_default=True, type=int, help="port the API listens on")
@click.option("--api-workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--api-threads", default=4, show_default=True, type=int, help="threads per gunicorn worker")
def up(host: str, port: int, api_workers: int, api_threads: int) -> None:
    """Migrate, then run the API and a worker until Ctrl-C."""
    settings = get_settings()
    from gradatlas.service.cli.supervisor import up as run_up

    sys.exit(run_up(settings, host, port, api_workers, api_threads))


@main.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    settings = get_settings()
    from gradatlas.service.store.migrate import upgrade

    settings.ensure_home()
    upgrade(settings.database_url)
    click.echo("database is at the latest schema")


@main.group()
def token() -> None:
    """Manage API tokens (stored hashed; a token is shown once)."""


def _tokens():  # type: ignore[no-untyped-def]
    settings = get_settings()
    from gradatlas.service.auth.tokens import Tokens
    from gradatlas.service.store.gateway import Store

    return Tokens(Store.from_url(settings.database_url), settings.resolved_pepper())


@token.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="may manage tokens and change anyone's experiments")
def token_create(name: str, admin: bool) -> None:
    """Print a new token for NAME."""
    _, plaintext = _tokens().create(name, is_admin=admin)
    click.echo(plaintext)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable JSON output")
def token_list(as_json: bool) -> None:
    """Every token: id, name, role, active or revoked (never the secret)."""
    infos = _tokens().list()
    if as_json:
        import json

        click.echo(json.dumps([info.model_dump(mode="json") for info in infos], indent=2))
        return
    for info in infos:
        state = "revoked" if info.revoked_at else "active"
        click.echo(f"{info.id}  {info.name:<20} {'admin' if info.is_admin else 'member':<6} {state}")


@token.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke the token TOKEN_ID (from `token list`); requests with it get 401."""
    if not _tokens().revoke(token_id):
        raise click.ClickException(f"no active token {token_id}")
    click.echo(f"revoked {token_id}")


def _register_remote() -> None:
    """submit, ls, show, profile, plot, cancel, sweep, compare: over HTTP."""
    from gradatlas.service.cli.remote import register

    register(main)


_register_remote()

if __name__ == "__main__":
    main()
