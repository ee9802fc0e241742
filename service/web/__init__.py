"""The web pages: server-rendered Jinja templates, charts drawn in the browser
with the Plotly build served from `static/` (no CDN: the pages work offline).

Signing in stores the user's API token in Flask's signed session cookie
(HttpOnly, SameSite=Lax); `signed_in` turns it into the principal each page
acts as. Pages call the same functions the /api/v1 routes call (the store,
the history query, submit, cancel) with that principal, so they see the same
validation, authorisation and error messages, under the page's own request
id and without spending the token's API rate limit. Forms carry a CSRF token.
"""

from __future__ import annotations

from flask import Flask
from gradatlas.service.web.blueprint import blueprint, csrf_token, metric_info


def init_web(app: Flask, secret_key: str) -> None:
    app.secret_key = secret_key
    app.config.update(SESSION_COOKIE_NAME="gradatlas_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax")
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["metric_info"] = metric_info
    from gradatlas.service.web import pages, submit  # noqa: F401  (routes register on the blueprint)

    app.register_blueprint(blueprint)
