"""The service's domain errors: what went wrong, in the domain's words.

Domain code (jobs, search, store, auth) raises these and knows nothing of
HTTP; `service.api.errors` turns each type into its status and the one
JSON error shape (docs/api.md), and the pages show the message. Each type carries the API
error `code` and the `details` (`loc` + `msg`) the contract promises.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from gradatlas.service.contracts.text import CLIENT
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)
Details = list[dict[str, Any]]


class DomainError(Exception):
    """Base of every error a client can cause or must wait out."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, details: Details | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.retry_after = retry_after


class InvalidInput(DomainError, ValueError):
    """Well-formed but not valid: a spec, a query, a parameter (a ValueError too,
    so code that validates with `except ValueError` keeps working)."""

    code = "validation_error"


class QuotaExceeded(InvalidInput):
    """A valid spec that asks for more work than the settings allow."""

    code = "quota_exceeded"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """A state transition that the experiment's current state forbids."""

    code = "conflict"


class Unauthenticated(DomainError):
    """No credentials, or credentials that name nobody."""

    code = "unauthorized"


class Forbidden(DomainError):
    """A known principal asking for what only an owner or an admin may do."""

    code = "forbidden"


class RateLimited(DomainError):
    """Too many requests for one token; `retry_after` says when to try again."""

    code = "rate_limited"


class Unavailable(DomainError):
    """A dependency (database, broker) is down; `retry_after` says when to retry."""

    code = "unavailable"


def validation_details(exc: ValidationError, prefix: tuple[str, ...] = ()) -> Details:
    return [{"loc": [*prefix, *error["loc"]], "msg": error["msg"]} for error in exc.errors()]


def require_object(body: Any, what: str) -> dict[str, Any]:
    """`body` when it is a JSON object, else InvalidInput naming `what` was sent."""
    if not isinstance(body, dict):
        raise InvalidInput(f"{what} must be a JSON object", [{"loc": [], "msg": "expected an object"}])
    return body


def validated(model: type[Model], body: Any, what: str, invalid: str) -> Model:
    """`body` as `model`, or InvalidInput (`invalid`, one detail per field).
    Validated as a client's request (`text.CLIENT`): its names, tags and notes
    are held to the rule a stored document read back is not. Strict: JSON
    already carries types, so `false` is not the integer 0, `0` not the boolean
    false and `"5"` not a number, as the OpenAPI document says."""
    try:
        return model.model_validate(require_object(body, what), strict=True, context=CLIENT)
    except ValidationError as exc:
        raise InvalidInput(invalid, validation_details(exc)) from exc
