"""The request's URL and headers against the settings' limits, answered in
the one JSON error shape (414, 431) before anything else reads them.

gunicorn checks the same things, but answers with its own HTML page; its
limits are set above these (service/cli/supervisor.py, docker-compose.yml) so
that the answer a client sees is this one."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import RequestHeaderFieldsTooLarge, RequestURITooLarge


def request_target_bytes() -> int:
    """The URL as the client sent it (path and query): gunicorn's RAW_URI,
    else the path and query Werkzeug rebuilt (the test client)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return len(raw.encode("latin-1", "replace"))
    query = request.environ.get("QUERY_STRING", "")
    return len(request.path.encode()) + (len(query) + 1 if query else 0)


def check_request_limits() -> None:
    """414 for a URL over `max_url_bytes`; 431 for a header line over
    `max_header_bytes` (name, ': ' and value) or more than `max_headers` headers."""
    settings = current_app.extensions["gradatlas"].settings
    if request_target_bytes() > settings.max_url_bytes:
        raise RequestURITooLarge(f"the URL is over the limit of {settings.max_url_bytes} bytes (GRADATLAS_MAX_URL_BYTES)")
    headers = list(request.headers.items())
    if len(headers) > settings.max_headers:
        raise RequestHeaderFieldsTooLarge(f"the request has more than {settings.max_headers} headers (GRADATLAS_MAX_HEADERS)")
    for name, value in headers:
        if len(name) + 2 + len(value) > settings.max_header_bytes:
            raise RequestHeaderFieldsTooLarge(
                f"the header {name[:64]!r} is over the limit of {settings.max_header_bytes} bytes (GRADATLAS_MAX_HEADER_BYTES)")
