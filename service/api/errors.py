"""The one error shape of docs/api.md, from one place. Every failure, ours or the
client's, leaves as JSON with a request id: never an HTML page or a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify
from gradatlas.service.contracts.errors import ApiError, validation_details
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("gradatlas.api")

def error_response(error: ApiError) -> Response:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details},
            "request_id": g.get("request_id", "")}
    response = jsonify(body)
    response.status_code = error.status
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error)

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError) -> Response:
        return error_response(ApiError(422, "the request is not valid", validation_details(error)))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        message = {413: f"the body is over the limit of {app.config.get('MAX_CONTENT_LENGTH')} bytes"}.get(status, error.description or "")
        return error_response(ApiError(status, message))

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def _database_down(error: Exception) -> Response:
        log.warning("database unavailable: %s", error.__class__.__name__)
        return error_response(ApiError(503, "the database is unavailable; retry shortly", retry_after=5))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(ApiError(500, "internal error; quote the request id when reporting it", code="internal_error"))
