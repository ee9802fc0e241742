"""The one error shape of docs/api.md, from one place. Every failure, ours or the
client's, leaves as JSON with a request id: never an HTML page or a traceback.

Domain errors become a status through one table (`STATUS`); what Flask and
Werkzeug raise about the request itself (malformed JSON, wrong media type,
body too large, unknown route) keeps its own status."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify
from gradatlas.service.contracts.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Unauthenticated,
    Unavailable,
    validation_details,
)
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger("gradatlas.api")

STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422, QuotaExceeded: 422, NotFound: 404, Conflict: 409, Unauthenticated: 401,
    Forbidden: 403, RateLimited: 429, Unavailable: 503,
}

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
              414: "uri_too_long", 415: "unsupported_media_type", 422: "validation_error",
              429: "rate_limited", 431: "header_fields_too_large", 503: "unavailable"}


def status_of(error: DomainError) -> int:
    """The status of the nearest type in `STATUS` (a subclass inherits its parent's)."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                   retry_after: int | None = None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or []}, "request_id": g.get("request_id", "")}
    response = jsonify(body)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def domain_error_response(error: DomainError) -> Response:
    return error_response(status_of(error), error.code, error.message, error.details, error.retry_after)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, domain_error_response)

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError) -> Response:
        return domain_error_response(InvalidInput("the request is not valid", validation_details(error)))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        message = {413: f"the body is over the limit of {app.config.get('MAX_CONTENT_LENGTH')} bytes"}.get(status, error.description or "")
        response = error_response(status, HTTP_CODES.get(status, "error"), message)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:  # RFC 9110: a 405 lists the methods that are allowed
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def _database_down(error: Exception) -> Response:
        log.warning("database unavailable: %s", error.__class__.__name__)
        return domain_error_response(Unavailable("the database is unavailable; retry shortly", retry_after=5))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; quote the request id when reporting it")
