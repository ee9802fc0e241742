"""Bearer-token authentication for every /api/v1 route, and ownership checks."""

from __future__ import annotations

from flask import current_app, g, request

from service.errors import ApiError
from service.resources import Experiment, Principal


def authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token: send 'Authorization: Bearer <token>'")
    principal = current_app.extensions["gradatlas"].tokens.authenticate(token.strip())
    if principal is None:
        raise ApiError(401, "the token is not valid (unknown, malformed or revoked)")
    g.principal = principal


def principal() -> Principal:
    return g.principal  # type: ignore[no-any-return]


def require_owner(experiment: Experiment) -> None:
    who = principal()
    if not (who.is_admin or experiment.owner == who.name):
        raise ApiError(403, f"only the owner ({experiment.owner}) or an admin may change this experiment")


def require_admin() -> None:
    if not principal().is_admin:
        raise ApiError(403, "this route is for admins")
