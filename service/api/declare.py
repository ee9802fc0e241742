"""What each route declares for the OpenAPI document, written on the route.

The library is spectree: its declarations are the pydantic models the API
already validates and answers with (contracts/spec.py, resources.py), and it
reads the paths and path parameters from Flask's own url_map, so a route and
its document entry are written in one place. apispec would need the same
models turned into dicts by hand and YAML in docstrings; flask-openapi3
replaces Flask's blueprints and takes over validation and the view arguments.

Validation stays the API's own (the 422 shape of docs/api.md): every declaration
passes skip_validation, so spectree only documents. Two things spectree cannot
say are kept here beside the declaration and added by openapi.py: media types
other than JSON (CSV, images) and a path parameter with a fixed set of values
that docs/api.md lists as paths of their own (plot.png, plot.svg).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gradatlas.service.contracts.resources import ErrorResponse
from spectree import Response as Responses
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType

View = TypeVar("View", bound=Callable[..., Any])
Declared = tuple[Any, str]  # (pydantic model or None, description)

api_spec = SpecTree(
    "flask", mode="strict", annotations=False, title="GradAtlas API", version="1",
    naming_strategy=lambda model: model.__name__,  # the schema names clients already know, no hash suffix
    nested_naming_strategy=lambda _parent, child: child,
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(type=SecureType.HTTP, scheme="bearer"))],
    security={"bearer": []},
)


@dataclass
class Extras:
    """What spectree cannot declare, by operationId."""

    media: dict[int, dict[str, Any]] = field(default_factory=dict)
    variants: tuple[str, Mapping[str, str]] | None = None


EXTRAS: dict[str, Extras] = {}
CSV = {"text/csv": {"schema": {"type": "string"}}}  # media= of the routes that answer ?format=csv

# Statuses a route answers because of what it is, not what it does, added to
# every declaration so that none is forgotten (each with the error body):
EVERY_REQUEST = (414, 431)  # a URL or header over the server's limits
AUTHENTICATED = (401, 429, 503)  # the token guard: no or bad token, its rate limit, the token table unreachable
JSON_BODY = (400, 413, 415)  # malformed or too deep JSON, a body over the limit, not application/json


def declare(summary: str, operation_id: str, responses: Mapping[int, Declared], *, errors: Iterable[int] = (),
            json: Any = None, query: Any = None, media: Mapping[int, Mapping[str, Any]] | None = None,
            public: bool = False, variants: tuple[str, Mapping[str, str]] | None = None) -> Callable[[View], View]:
    """Document one route: its success `responses` by status, the statuses it
    answers with the API's error body, its body and query models. `media` adds
    non-JSON content per status; `variants` = (path parameter, {value: media
    type}) documents one path per value; `public` routes need no token."""
    if operation_id in EXTRAS:
        raise ValueError(f"operationId {operation_id!r} is declared twice")
    codes: dict[str, Declared] = {f"HTTP_{status}": declared for status, declared in responses.items()}
    codes |= {f"HTTP_{status}": (ErrorResponse, "error") for status in _error_statuses(errors, json is not None, public)}
    EXTRAS[operation_id] = Extras({status: dict(types) for status, types in (media or {}).items()}, variants)
    validator = api_spec.validate(
        json=json, query=query, resp=Responses(**codes), operation_id=operation_id, security={} if public else None,
        skip_validation=True, validation_error_status=_documented_status(codes),
    )

    def decorate(view: View) -> View:
        wrapped = validator(view)
        wrapped.__doc__ = f"{summary}\f{view.__doc__ or ''}"  # spectree's summary is the docstring up to \f
        return wrapped  # type: ignore[no-any-return]

    return decorate


def _error_statuses(declared: Iterable[int], has_body: bool, public: bool) -> list[int]:
    """The route's own error statuses and those every route of its kind answers."""
    implied = (*EVERY_REQUEST, *(() if public else AUTHENTICATED), *(JSON_BODY if has_body else ()))
    return sorted({*declared, *implied})


def _documented_status(codes: Mapping[str, Declared]) -> int:
    """spectree adds its own validation-error model under this status unless the
    route declares a model there; validation is off, so name a status the route
    declares with a model (422 where it has one) and nothing undeclared appears."""
    with_model = [int(code.removeprefix("HTTP_")) for code, (model, _) in codes.items() if model is not None]
    if not with_model:
        raise ValueError("declare at least one response with a model")
    return 422 if 422 in with_model else with_model[0]
