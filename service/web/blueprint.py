"""The web blueprint and what every page needs: sign-in (`signed_in` turns the
server-side session into the principal a page acts as), the CSRF check of
forms, the one rule for where a sign-in may send the browser next, error pages
with the status the API would give, and the metric table the templates show.
Pages import this module, never the package that registers them."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from gradatlas.service.api.errors import status_of
from gradatlas.service.contracts.errors import DomainError
from gradatlas.service.web import sessions

blueprint = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/ui/static")

F = TypeVar("F", bound=Callable[..., Any])


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "") or request.headers.get("X-CSRF-Token", "")
    if not sent or not hmac.compare_digest(sent, sessions.csrf_token()):
        abort(400, "the form expired or did not come from this site; reload the page and try again")


def signed_in(view: F) -> F:
    """Pages need a live session (logout, expiry or a revoked token end it)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        principal = sessions.current()
        if principal is None:
            return redirect(url_for("web.login", next=request.full_path if request.method == "GET" else None))
        g.principal = principal
        if request.method == "POST":
            check_csrf()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def local_path(target: str) -> str | None:
    """`target` when it is a path on this site, else None. Browsers drop tabs
    and newlines and read a backslash as a slash, so `/%09/evil.example` and
    `/\\evil.example` would leave the site: the checks run on the value as given
    and once more URL-decoded."""
    for text in (target, unquote(target)):
        split = urlsplit(text)
        if (not text.startswith("/") or "//" in text or "\\" in text or split.scheme or split.netloc
                or any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)):
            return None
    return target


def error_page(error: DomainError) -> tuple[str, int]:
    """A domain error as a page, with the status the API would answer."""
    return render_template("error.html", message=error.message), status_of(error)


def metric_info() -> dict[str, dict[str, Any]]:
    """Axis labels and scales for the browser charts: the same as the figures'."""
    from gradatlas.service.reports.plots import METRICS

    return {name: {"label": info.label, "log": info.log, "theory": info.theory} for name, info in METRICS.items()}
