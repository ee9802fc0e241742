"""Per-token rate limits: 429 with Retry-After past the limit, stricter on
POST, counted across API processes, and never a reason to refuse everyone
when the counter's store is down."""

from __future__ import annotations

import sys
from pathlib import Path

import requests
from gradatlas.service.api import create_app

from tests.support import ROOT, free_port, service_env, stop_process, wait_for

SPEC = {"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}}


def _fresh_window() -> None:
    """Counts reset each minute: start far enough from the boundary that a test's requests share one window."""
    import time

    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.1)


def _app(settings, store, **limits):  # type: ignore[no-untyped-def]
    _fresh_window()
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
    assert refused.get_json()["error"]["code"] == "rate_limited" and 1 <= int(refused.headers["Retry-After"]) <= 60
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
    import subprocess

    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "3", "gradatlas.service.api.wsgi:app"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url), timeout=30, what="gunicorn")
        session = requests.Session()
        codes = []
        for _ in range(30):
            session.close()  # a new connection each time, so requests spread over the worker processes
            codes.append(session.get(f"{url}/api/v1/experiments", headers=headers, timeout=5).status_code)
        assert codes.count(200) == 20 and codes.count(429) == 10, codes
    finally:
        stop_process(server)


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False
