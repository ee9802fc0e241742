"""What every blueprint reads from a request, parsed one way: the JSON body,
`?limit=`, `?format=`, and an experiment that must exist. Malformed requests
are HTTP errors (400, 415); well-formed but invalid values are domain errors
(InvalidInput, NotFound), so the pages can call the same helpers."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from gradatlas.service.api.context import services
from gradatlas.service.contracts.errors import InvalidInput, NotFound
from gradatlas.service.contracts.resources import Experiment
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

MAX_LIMIT = 200
FORMATS = ("json", "csv")


def json_body() -> Any:
    """The body as JSON: 415 unless sent as application/json, 400 unless it parses."""
    if not request.mimetype or request.mimetype != "application/json":
        raise UnsupportedMediaType(f"send the body as application/json, not {request.mimetype or 'nothing'}")
    raw = request.get_data(cache=False)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc


def parse_limit(raw: str) -> int:
    """A page size from 1 to MAX_LIMIT."""
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}",
                           [{"loc": ["query", "limit"], "msg": f"expected 1 to {MAX_LIMIT}, got {raw!r}"}])
    return int(raw)


def limit_arg(default: str = "50") -> int:
    return parse_limit(request.args.get("limit", default))


def requested_format() -> str:
    """`?format=json|csv` (json by default)."""
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise InvalidInput("format must be json or csv", [{"loc": ["query", "format"], "msg": f"got {fmt!r}"}])
    return fmt


def found_experiment(experiment_id: str) -> Experiment:
    """The stored experiment, or NotFound naming the id."""
    experiment = services().store.get_experiment(experiment_id)
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id!r}")
    return experiment
