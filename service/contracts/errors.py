"""The service's error type: raised anywhere (views, service functions),
turned into docs/api.md's one JSON error shape by `service.api.errors`."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
              415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
              503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: list[dict[str, Any]] | None = None,
                 code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or HTTP_CODES.get(status, "error")
        self.details = details or []
        self.retry_after = retry_after


def validation_details(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{"loc": [*prefix, *error["loc"]], "msg": error["msg"]} for error in exc.errors()]


def require_object(body: Any, what: str) -> dict[str, Any]:
    """`body` when it is a JSON object, else the 422 that names `what` was sent."""
    if not isinstance(body, dict):
        raise ApiError(422, f"{what} must be a JSON object", [{"loc": [], "msg": "expected an object"}])
    return body


def validated(model: type[Model], body: Any, what: str, invalid: str) -> Model:
    """`body` as `model`, or a 422 (`invalid`, one detail per field) that stores nothing."""
    try:
        return model.model_validate(require_object(body, what))
    except ValidationError as exc:
        raise ApiError(422, invalid, validation_details(exc)) from exc
