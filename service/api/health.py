"""Liveness and readiness. /readyz checks what a request needs: the database
and the broker."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, jsonify
from gradatlas.service.api.context import services
from gradatlas.service.api.declare import declare
from gradatlas.service.api.schemas import Health, Readiness

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
@declare("Liveness", "healthz", {200: (Health, "alive")}, public=True)
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
@declare("Readiness: database and broker", "readyz", {200: (Readiness, "ready"), 503: (Readiness, "not ready")}, public=True)
def readyz() -> tuple[Response, int, dict[str, str]]:
    s = services()
    checks = {"database": _check(s.store.ping), "broker": _check(s.broker_ping) if callable(s.broker_ping) else "ok"}
    ready = all(value == "ok" for value in checks.values())
    headers = {} if ready else {"Retry-After": "5"}
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), 200 if ready else 503, headers


def _check(probe: Callable[[], object]) -> str:
    try:
        probe()
    except Exception as exc:  # any failure means not ready; say which
        return f"unavailable: {exc.__class__.__name__}"
    return "ok"
