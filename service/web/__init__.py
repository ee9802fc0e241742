"""The web pages: server-rendered Jinja templates, charts drawn in the browser
with the Plotly build served from `static/` (no CDN: the pages work offline).

Signing in starts a server-side session (web/sessions.py): Flask's signed
cookie (HttpOnly, SameSite=Lax, Secure unless the settings turn it off) holds
only a random id, and `signed_in` turns that id into the principal each page
acts as. Pages call the same functions the /api/v1 routes call (the store,
the history query, submit, cancel) with that principal, so they see the same
validation, authorisation and error messages, under the page's own request
id and without spending the token's API rate limit. Forms carry a CSRF token;
every response carries the security headers of web/headers.py.
"""

from __future__ import annotations

from flask import Flask
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.web.blueprint import blueprint, metric_info
from gradatlas.service.web.headers import add_security_headers
from gradatlas.service.web.sessions import csrf_token


def init_web(app: Flask, settings: Settings) -> None:
    app.secret_key = settings.resolved_secret_key()
    app.config.update(SESSION_COOKIE_NAME="gradatlas_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=settings.session_cookie_secure)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["metric_info"] = metric_info
    from gradatlas.service.web import pages, submit  # noqa: F401  (routes register on the blueprint)

    app.register_blueprint(blueprint)
    app.after_request(add_security_headers)
