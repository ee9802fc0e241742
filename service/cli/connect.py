"""What every remote `gradatlas` command shares: reading a spec file, finding
the token, reaching the service, and turning whatever goes wrong into one
line that says what to fix (never a traceback) and a non-zero exit."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import requests
from gradatlas.service.client import Client, GradAtlasError, token_file

EXIT_FAILED = 1
DEFAULT_URL = "http://127.0.0.1:8000"
TOKEN_HELP = "bearer token (else GRADATLAS_TOKEN, else $GRADATLAS_HOME/token, ./.gradatlas/token by default)"


def remote(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --url, --token and --json, and turns API errors into one clear line
    (or the API's JSON error body under --json) and a non-zero exit."""

    @click.option("--url", envvar="GRADATLAS_URL", default=DEFAULT_URL, show_default=True,
                  help="the service's address (also GRADATLAS_URL)")
    @click.option("--token", default=None, help=TOKEN_HELP)
    @click.option("--json", "as_json", is_flag=True, help="machine-readable JSON output")
    @functools.wraps(command)
    def wrapper(url: str, token: str | None, as_json: bool, **kwargs: Any) -> Any:
        plaintext, source = find_token(token)
        client = Client(url, plaintext)
        try:
            return command(client, as_json, **kwargs)
        except GradAtlasError as exc:
            if as_json:
                click.echo(json.dumps(exc.body or {"error": {"code": exc.code, "message": exc.message}}), err=True)
                sys.exit(EXIT_FAILED)
            raise click.ClickException(describe(exc, source)) from exc
        except TimeoutError as exc:
            raise click.ClickException(f"{exc}; wait longer with --timeout, or look later with `gradatlas show`") from exc
        except requests.ConnectionError as exc:
            raise click.ClickException(f"cannot reach {client.url}: is `gradatlas up` running? "
                                       "Set --url or GRADATLAS_URL") from exc
        except requests.RequestException as exc:
            raise click.ClickException(f"request to {client.url} failed ({type(exc).__name__}): is the service "
                                       "overloaded? Try again, or set --url or GRADATLAS_URL") from exc

    return wrapper


def find_token(option: str | None) -> tuple[str, str]:
    """The token and where it came from: --token, GRADATLAS_TOKEN, then the
    token file. Without one, the error names every place it looked."""
    if option and option.strip():
        return option.strip(), "--token"
    if os.environ.get("GRADATLAS_TOKEN", "").strip():
        return os.environ["GRADATLAS_TOKEN"].strip(), "GRADATLAS_TOKEN"
    path = token_file()
    try:
        text = path.read_text().strip()
        problem = "is empty"
    except FileNotFoundError:
        text, problem = "", "does not exist"
    except OSError as exc:
        text, problem = "", f"cannot be read ({exc.strerror})"
    if text:
        return text, str(path)
    raise click.ClickException(
        f"no API token: --token is not given, GRADATLAS_TOKEN is not set and {path} {problem}; pass --token, "
        "set GRADATLAS_TOKEN, or set GRADATLAS_HOME to the folder where `gradatlas up` wrote its token")


def describe(exc: GradAtlasError, token_source: str) -> str:
    """One line: the API's message, its status and code, each detail as
    `field: message`, and for a refused token where that token came from."""
    details = "; ".join(f"{_field(d.get('loc', []))}: {d.get('msg', '')}" for d in exc.details)
    line = f"{exc.message} ({exc.status} {exc.code})" + (f": {details}" if details else "")
    if exc.status == 422 and details:
        line += "; fix these fields and run the command again"
    if exc.status == 401:
        line += f"; the token from {token_source} was refused: check it, or make one with `gradatlas token create NAME`"
    return line


def _field(loc: list[Any]) -> str:
    parts = [str(part) for part in loc]
    return ".".join(parts[1:] if parts[:1] == ["body"] and len(parts) > 1 else parts) or "(request)"


def load_spec(path: str) -> dict[str, Any]:
    """A JSON, or by extension YAML, object; a clear error naming the file,
    line and column for anything else."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 JSON or YAML") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    document = _parse_yaml(path, text) if path.endswith((".yaml", ".yml")) else _parse_json(path, text)
    if not isinstance(document, dict):
        raise click.ClickException(f"{path}: the spec must be an object (a mapping of fields), not "
                                   f"{json.dumps(document)[:40]}; see examples/ for the shape")
    try:
        json.dumps(document)
    except (TypeError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}; quote such values in the file") from exc
    return document


def _parse_json(path: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}, line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}; "
                                   "fix the file and run the command again") from exc


def _parse_yaml(path: str, text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise click.ClickException(f"{path}{where}: not valid YAML: {exc.problem or exc.context}; "
                                   "fix the file and run the command again") from exc
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{path}: not valid YAML: {exc}; fix the file and run the command again") from exc
