"""The Flask app factory (Flask tutorial style): tests inject a store and a
recording enqueue; production builds both from the settings."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, Response, g, request
from gradatlas.service.api.auth import guard_api
from gradatlas.service.api.context import Services
from gradatlas.service.api.errors import register_error_handlers
from gradatlas.service.api.limits import check_request_limits
from gradatlas.service.api.metrics import count_request, start_timer
from gradatlas.service.auth.ratelimit import RateLimiter, make_counter
from gradatlas.service.auth.tokens import Tokens
from gradatlas.service.contracts.logs import request_id_var
from gradatlas.service.contracts.settings import Settings, get_settings
from gradatlas.service.jobs.submit import Enqueue
from gradatlas.service.store.gateway import Store


def create_app(settings: Settings | None = None, store: Store | None = None, enqueue: Enqueue | None = None) -> Flask:
    settings = settings or get_settings()
    store = store or Store.from_url(settings.database_url)
    broker_ping = None
    if enqueue is None:
        from gradatlas.service.contracts.queue import CeleryEnqueue

        celery_enqueue = CeleryEnqueue(settings)
        enqueue, broker_ping = celery_enqueue, celery_enqueue.ping
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    limiter = RateLimiter(make_counter(settings.broker_url, settings.home), settings.rate_limit_per_minute,
                          settings.rate_limit_submits_per_minute, settings.failed_auth_per_minute)
    token_keeper = Tokens(store, settings.resolved_pepper(), cache_s=settings.token_cache_s)
    app.extensions["gradatlas"] = Services(settings, store, token_keeper, enqueue, broker_ping, limiter)
    app.before_request(start_timer)  # first, so that every answer is timed
    app.before_request(_assign_request_id)
    app.before_request(check_request_limits)  # 414/431 in the JSON shape, before anything reads the headers
    app.before_request(guard_api)  # the one authentication of /api/v1: no blueprint authenticates again
    app.after_request(_echo_request_id)
    register_error_handlers(app)
    from gradatlas.service.api import compare, edits, experiments, health, imports, metrics, openapi, plots, sweeps, theory, tokens
    from gradatlas.service.web import init_web

    for module in (experiments, plots, theory, tokens, health, openapi, metrics, edits, compare, sweeps, imports):
        app.register_blueprint(module.blueprint)
    app.after_request(count_request)
    init_web(app, settings)
    logging.getLogger("gradatlas").setLevel(logging.INFO)
    return app


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
    request_id_var.set(g.request_id)


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    return response
