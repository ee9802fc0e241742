"""What every blueprint reads from a request, parsed one way: the JSON body,
`?limit=`, `?format=`, and an experiment that must exist. Malformed requests
are HTTP errors (400, 415); well-formed but invalid values are domain errors
(InvalidInput, NotFound), so the pages can call the same helpers."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request
from gradatlas.service.api.context import services
from gradatlas.service.contracts.errors import InvalidInput, NotFound
from gradatlas.service.contracts.resources import Experiment
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

MAX_LIMIT = 200
_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
FORMATS = ("json", "csv")


def json_body() -> Any:
    """The body as JSON: 415 unless sent as application/json, 413 over the size
    limit, 400 unless it parses within the nesting limit."""
    if not request.mimetype or request.mimetype != "application/json":
        raise UnsupportedMediaType(f"send the body as application/json, not {request.mimetype or 'nothing'}")
    raw = _whole_body()
    limit = services().settings.max_json_depth
    too_deep = first_too_deep(raw, limit)
    if too_deep is not None:
        raise BadRequest(f"the body nests JSON deeper than the limit of {limit} levels (at byte {too_deep})")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc


def _whole_body() -> bytes:
    """The body, or 413. A body sent with Content-Length over the limit is refused
    by Werkzeug before it is read; a chunked one is only cut at the limit, so
    one byte more in the input means it was over."""
    raw = request.get_data(cache=False)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return raw


def first_too_deep(raw: bytes, limit: int) -> int | None:
    """The offset of the first bracket that opens a level deeper than `limit`,
    or None. Counted before parsing because the parser recurses once per level
    and a deep enough body ends in RecursionError (a 500); strings are skipped,
    so a bracket inside one counts for nothing."""
    if raw.count(b"[") + raw.count(b"{") <= limit:  # most bodies: no bracket-by-bracket walk
        return None
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return match.start()
        elif token in (b"]", b"}"):
            depth -= 1
    return None


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
