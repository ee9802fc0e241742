"""The web blueprint and what every page needs: sign-in (`signed_in` turns the
session's token into the principal a page acts as), CSRF tokens for forms,
error pages with the status the API would give, and the metric table the
templates show. Pages import this module, never the package that registers them."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from gradatlas.service.api.errors import status_of
from gradatlas.service.contracts.errors import DomainError

blueprint = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/ui/static")

F = TypeVar("F", bound=Callable[..., Any])


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


def error_page(error: DomainError) -> tuple[str, int]:
    """A domain error as a page, with the status the API would answer."""
    return render_template("error.html", message=error.message), status_of(error)


def metric_info() -> dict[str, dict[str, Any]]:
    """Axis labels and scales for the browser charts: the same as the figures'."""
    from gradatlas.service.reports.plots import METRICS

    return {name: {"label": info.label, "log": info.log, "theory": info.theory} for name, info in METRICS.items()}
