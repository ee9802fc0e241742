"""A long URL, a large header or too many headers: 414 and 431 in the one JSON
error shape, from the service behind the gunicorn command `gradatlas up` runs
(gunicorn's own limits sit above the service's, so its HTML page never answers)."""

from __future__ import annotations

import subprocess

import pytest
import requests
from gradatlas.service.api import create_app
from gradatlas.service.cli.supervisor import api_command
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.store.migrate import upgrade

from tests.support import ROOT, free_port, service_env, stop_process, wait_for


@pytest.fixture(scope="module")
def gunicorn_url(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path_factory.mktemp("limits") / "home", pepper="limits-test-pepper")
    settings.ensure_home()
    upgrade(settings.database_url)
    port = free_port()
    env = service_env(settings.home, "", "", pepper="limits-test-pepper")
    server = subprocess.Popen(api_command("127.0.0.1", port, workers=1, threads=2), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), timeout=30, what="gunicorn")
        yield url
    finally:
        stop_process(server)


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _error(response: requests.Response, status: int, code: str, limit: str) -> None:
    assert response.status_code == status, response.text[:200]
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and limit in error["message"], error
    assert response.json()["request_id"]


def test_a_url_over_8_kib_is_414_json(gunicorn_url: str) -> None:
    _error(requests.get(f"{gunicorn_url}/api/v1/experiments?filter={'x' * 9000}", timeout=10), 414, "uri_too_long", "8192")


def test_a_9_kb_header_is_431_json(gunicorn_url: str) -> None:
    response = requests.get(f"{gunicorn_url}/api/v1/experiments", headers={"X-Big": "y" * 9000}, timeout=10)
    _error(response, 431, "header_fields_too_large", "8192")


def test_too_many_headers_is_431_json(gunicorn_url: str) -> None:
    headers = {f"X-Extra-{n}": "1" for n in range(150)}
    _error(requests.get(f"{gunicorn_url}/api/v1/experiments", headers=headers, timeout=10), 431, "header_fields_too_large", "100")


def test_under_the_limits_the_request_goes_on_to_authentication(gunicorn_url: str) -> None:
    response = requests.get(f"{gunicorn_url}/api/v1/experiments?filter={'x' * 7000}", headers={"X-Big": "y" * 7000}, timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_the_limits_are_settings(settings, store) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update={"max_url_bytes": 300, "max_header_bytes": 300, "max_headers": 12}),
                     store=store, enqueue=lambda *_: None)
    client = app.test_client()
    assert client.get("/healthz?" + "q" * 300).status_code == 414
    assert client.get("/healthz?" + "q" * 250).status_code == 200
    assert client.get("/healthz", headers={"X-Big": "y" * 300}).status_code == 431
    assert client.get("/healthz", headers={f"X-{n}": "1" for n in range(12)}).status_code == 431
