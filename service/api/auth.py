"""Bearer-token authentication for every /api/v1 route, and ownership checks."""

from __future__ import annotations

import logging

from flask import current_app, g, request
from gradatlas.service.contracts.errors import ApiError
from gradatlas.service.contracts.resources import Experiment, Principal

log = logging.getLogger("gradatlas.api")


def authenticate() -> None:
    if "principal" in g:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token: send 'Authorization: Bearer <token>'")
    principal = current_app.extensions["gradatlas"].tokens.authenticate(token.strip())
    if principal is None:
        raise ApiError(401, "the token is not valid (unknown, malformed or revoked)")
    g.principal = principal


def guard_api() -> None:
    """Every /api/v1 request: a valid bearer token, then that token's rate limit."""
    if not request.path.startswith("/api/v1/"):
        return
    authenticate()
    limiter = current_app.extensions["gradatlas"].rate_limiter
    try:
        verdict = limiter.check(g.principal.token_id, is_submit=request.method == "POST")
    except Exception as exc:  # the counter's store is down: serve rather than refuse everyone
        log.warning("rate limiter unavailable (%s); request allowed", exc.__class__.__name__)
        return
    if not verdict.allowed:
        raise ApiError(429, f"rate limit exceeded for this token; retry in {verdict.retry_after} s", retry_after=verdict.retry_after)


def principal() -> Principal:
    return g.principal  # type: ignore[no-any-return]


def require_owner(experiment: Experiment) -> None:
    who = principal()
    if not (who.is_admin or experiment.owner == who.name):
        raise ApiError(403, f"only the owner ({experiment.owner}) or an admin may change this experiment")


def require_admin() -> None:
    if not principal().is_admin:
        raise ApiError(403, "this route is for admins")
