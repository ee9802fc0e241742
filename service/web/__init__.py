"""The web pages: server-rendered Jinja templates, charts drawn in the browser
with the Plotly build served from `static/` (no CDN: the pages work offline).

Signing in stores the user's API token in Flask's signed session cookie
(HttpOnly, SameSite=Lax), and every page reads data through `api()`: an
in-process call of the same /api/v1 routes with that token. So the pages
see exactly what the CLI and the client see — authorisation, validation,
error bodies, every route the API serves — and there is one source of
truth for what the service answers. Forms carry a CSRF token.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, session, url_for

blueprint = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/ui/static")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Answer:
    """What an /api/v1 route answered: status, JSON body (or None), raw bytes."""

    status: int
    body: Any
    data: bytes
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        error = (self.body or {}).get("error", {}) if isinstance(self.body, dict) else {}
        return str(error.get("message", f"HTTP {self.status}"))


def api(method: str, path: str, **kwargs: Any) -> Answer:
    """Call an /api/v1 route in process with the signed-in user's token."""
    client = current_app.test_client()
    response = client.open(path, method=method, headers={"Authorization": f"Bearer {session.get('token', '')}"}, **kwargs)
    body = response.get_json(silent=True) if response.mimetype == "application/json" else None
    headers = {k: v for k, v in response.headers.items() if k in ("Content-Type", "Content-Disposition", "Location")}
    return Answer(response.status_code, body, response.get_data(), headers)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "") or request.headers.get("X-CSRF-Token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, "the form expired or did not come from this site; reload the page and try again")


def signed_in(view: F) -> F:
    """Pages need a valid token in the session (a revoked one signs you out)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = session.get("token")
        principal = current_app.extensions["gradatlas"].tokens.authenticate(token) if token else None
        if principal is None:
            session.pop("token", None)
            return redirect(url_for("web.login", next=request.full_path if request.method == "GET" else None))
        g.principal = principal
        if request.method == "POST":
            check_csrf()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def metric_info() -> dict[str, dict[str, Any]]:
    """Axis labels and scales for the browser charts: the same as the figures'."""
    from gradatlas.service.reports.plots import METRICS

    return {name: {"label": info.label, "log": info.log, "theory": info.theory} for name, info in METRICS.items()}


def init_web(app: Flask, secret_key: str) -> None:
    app.secret_key = secret_key
    app.config.update(SESSION_COOKIE_NAME="gradatlas_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax")
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["metric_info"] = metric_info
    from gradatlas.service.web import pages, submit  # noqa: F401  (routes register on the blueprint)

    app.register_blueprint(blueprint)
