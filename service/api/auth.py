"""Bearer-token authentication for every /api/v1 route, in one app-wide guard
(no blueprint authenticates again); ownership rules are in service.auth.ownership."""

from __future__ import annotations

import logging

from flask import current_app, g, request
from gradatlas.service.auth.ratelimit import RateLimiter
from gradatlas.service.contracts.errors import RateLimited, Unauthenticated
from gradatlas.service.contracts.resources import Principal

log = logging.getLogger("gradatlas.api")


def authenticate() -> Principal:
    """The principal named by the request's bearer token."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token: send 'Authorization: Bearer <token>'")
    principal = current_app.extensions["gradatlas"].tokens.authenticate(token.strip())
    if principal is None:
        raise Unauthenticated("the token is not valid (unknown, malformed or revoked)")
    return principal  # type: ignore[no-any-return]


def guard_api() -> None:
    """Every /api/v1 request: a valid bearer token, then that token's rate limit."""
    if not request.path.startswith("/api/v1/"):
        return
    limiter = current_app.extensions["gradatlas"].rate_limiter
    try:
        g.principal = authenticate()
    except Unauthenticated:
        _throttle_failed_auth(limiter)
        raise
    try:
        verdict = limiter.check(g.principal.token_id, is_submit=request.method == "POST")
    except Exception as exc:  # the counter's store is down: serve rather than refuse everyone
        log.warning("rate limiter unavailable (%s); request allowed", exc.__class__.__name__)
        return
    if not verdict.allowed:
        raise RateLimited(f"rate limit exceeded for this token; retry in {verdict.retry_after} s", retry_after=verdict.retry_after)


def _throttle_failed_auth(limiter: RateLimiter) -> None:
    """429 instead of 401 once the client's address is past its failed-auth
    budget (RateLimiter.failed_auth says why a valid token still passes). The
    address is `remote_addr`: behind a reverse proxy, the proxy's, so the
    budget is then shared by everyone behind it (README settings)."""
    try:
        verdict = limiter.failed_auth(request.remote_addr or "unknown")
    except Exception as exc:  # the counter's store is down: answer 401 as always
        log.warning("rate limiter unavailable (%s); failed authentication not counted", exc.__class__.__name__)
        return
    if not verdict.allowed:
        raise RateLimited(f"too many failed authentications from this address; retry in {verdict.retry_after} s",
                          retry_after=verdict.retry_after)


def principal() -> Principal:
    """Who is asking: set by guard_api for /api/v1, by the sign-in check for pages."""
    return g.principal  # type: ignore[no-any-return]
