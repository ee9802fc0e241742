"""Per-token rate limits: 429 with Retry-After past the limit, stricter on
POST, counted across API processes, and never a reason to refuse everyone
when the counter's store is down."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import requests
from gradatlas.service.api import create_app
from gradatlas.service.auth import ratelimit

from tests.support import free_port, service_env, serving

SPEC = {"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}}


# 30 s into a one-minute window: every request of a test falls in this window,
# however slow the machine (real time could cross a window boundary mid-test).
FROZEN_NOW = 60 * 29_000_000 + 30.0
FROZEN_CLOCK = f"""
import types

def post_fork(server, worker):
    from gradatlas.service.auth import ratelimit
    ratelimit.time = types.SimpleNamespace(time=lambda: {FROZEN_NOW!r})
"""


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rate limiter's clock, stopped at FROZEN_NOW in this process."""
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: FROZEN_NOW))


def _app(settings, store, **limits):  # type: ignore[no-untyped-def]
    limited = settings.model_copy(update=limits)
    app = create_app(limited, store=store, enqueue=lambda *_: None)
    return app, app.test_client()


def _headers(app, name="alice"):  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {app.extensions['gradatlas'].tokens.create(name)[1]}"}


def test_past_the_limit_is_429_with_retry_after_and_other_tokens_are_unaffected(settings, store):
    app, client = _app(settings, store, rate_limit_per_minute=5)
    alice, bob = _headers(app, "alice"), _headers(app, "bob")
    codes = [client.get("/api/v1/experiments", headers=alice).status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2
    refused = client.get("/api/v1/experiments", headers=alice)
    assert refused.get_json()["error"]["code"] == "rate_limited" and refused.headers["Retry-After"] == "30"
    assert client.get("/api/v1/experiments", headers=bob).status_code == 200
    assert client.get("/healthz").status_code == 200  # outside /api/v1


def test_submissions_have_a_stricter_limit(settings, store):
    app, client = _app(settings, store, rate_limit_per_minute=100, rate_limit_submits_per_minute=3)
    alice = _headers(app)
    codes = [client.post("/api/v1/experiments", json=SPEC, headers=alice).status_code for _ in range(5)]
    assert codes == [202] * 3 + [429] * 2
    assert client.get("/api/v1/experiments", headers=alice).status_code == 200
    assert len(client.get("/api/v1/experiments", headers=alice).get_json()["items"]) == 3


def test_the_default_limits_let_a_script_submit_dozens_in_a_burst(settings, store):
    app, client = _app(settings, store)
    alice = _headers(app)
    assert all(client.post("/api/v1/experiments", json=SPEC, headers=alice).status_code == 202 for _ in range(60))


def test_a_broken_counter_lets_requests_through(settings, store):
    app, client = _app(settings, store)

    class Broken:
        def increment(self, key: str, window: int) -> int:
            raise ConnectionError("counter store down")

    app.extensions["gradatlas"].rate_limiter.counter = Broken()
    assert client.get("/api/v1/experiments", headers=_headers(app)).status_code == 200


def test_the_limit_is_shared_by_every_gunicorn_worker_process(settings, tmp_path: Path):
    env = service_env(settings.home, settings.database_url, settings.broker_url, pepper=settings.pepper, rate_limit_per_minute=20)
    app, _ = _app(settings, None)
    headers = _headers(app)
    port = free_port()
    config = tmp_path / "frozen_clock.py"  # the same stopped clock in every gunicorn worker process
    config.write_text(FROZEN_CLOCK)
    command = [sys.executable, "-m", "gunicorn", "--config", str(config), "--bind", f"127.0.0.1:{port}", "--workers", "3",
               "gradatlas.service.api.wsgi:app"]
    with serving(command, env, port) as url:
        session = requests.Session()
        codes = []
        for _ in range(30):
            session.close()  # a new connection each time, so requests spread over the worker processes
            codes.append(session.get(f"{url}/api/v1/experiments", headers=headers, timeout=5).status_code)
        assert codes.count(200) == 20 and codes.count(429) == 10, codes



def test_failed_authentications_from_one_address_are_throttled_but_a_valid_token_still_works(settings, store):
    app, client = _app(settings, store, failed_auth_per_minute=5)
    alice = _headers(app)
    wrong = {"Authorization": "Bearer not-a-token"}
    codes = [client.get("/api/v1/experiments", headers=wrong).status_code for _ in range(5)]
    codes += [client.get("/api/v1/experiments").status_code for _ in range(2)]  # no token counts too
    assert codes == [401] * 5 + [429] * 2
    refused = client.get("/api/v1/experiments", headers=wrong)
    assert refused.get_json()["error"]["code"] == "rate_limited" and refused.headers["Retry-After"] == "30"
    assert client.get("/api/v1/experiments", headers=alice).status_code == 200
    other = client.get("/api/v1/experiments", headers=wrong, environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other.status_code == 401  # another address has its own budget


def test_the_failed_auth_budget_defaults_to_30_a_minute(settings, store):
    _, client = _app(settings, store)
    wrong = {"Authorization": "Bearer not-a-token"}
    codes = [client.get("/api/v1/experiments", headers=wrong).status_code for _ in range(31)]
    assert codes == [401] * 30 + [429]
