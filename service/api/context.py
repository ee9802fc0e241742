"""What every view needs from the running app: the settings, the store, the
token book, the enqueue function, the broker check and the rate limiter,
built once by `create_app` and kept in `app.extensions`. A module of its own
so that views import it without importing the app factory that imports them."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from gradatlas.service.auth.ratelimit import RateLimiter
from gradatlas.service.auth.tokens import Tokens
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.jobs.submit import Enqueue
from gradatlas.service.store.gateway import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    tokens: Tokens
    enqueue: Enqueue
    broker_ping: object
    rate_limiter: RateLimiter


def services() -> Services:
    return current_app.extensions["gradatlas"]  # type: ignore[no-any-return]
