"""A long URL, a large header or too many headers: 414 and 431 in the one JSON
error shape, from the service behind the gunicorn command `gradatlas up` runs
(gunicorn's own limits sit above the service's, so its HTML page never answers)."""

from __future__ import annotations

import pytest
import requests
from gradatlas.service.api import create_app
from gradatlas.service.cli.supervisor import api_command
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.store.migrate import upgrade

from tests.support import free_port, service_env, serving


@pytest.fixture(scope="module")
def gunicorn_url(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path_factory.mktemp("limits") / "home", pepper="limits-test-pepper")
    settings.ensure_home()
    upgrade(settings.database_url)
    port = free_port()
    env = service_env(settings.home, "", "", pepper="limits-test-pepper")
    with serving(api_command("127.0.0.1", port, workers=1, threads=2), env, port) as url:
        yield url


def _json_error(response: requests.Response) -> tuple[int, str, str]:
    """(status, error code, message) of a JSON error answer, with its request id."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    body = response.json()
    assert body["request_id"]
    return response.status_code, body["error"]["code"], body["error"]["message"]


def test_a_url_over_8_kib_is_414_json(gunicorn_url: str) -> None:
    status, code, message = _json_error(requests.get(f"{gunicorn_url}/api/v1/experiments?filter={'x' * 9000}", timeout=10))
    assert (status, code) == (414, "uri_too_long") and "8192" in message


def test_a_9_kb_header_is_431_json(gunicorn_url: str) -> None:
    status, code, message = _json_error(requests.get(f"{gunicorn_url}/api/v1/experiments", headers={"X-Big": "y" * 9000}, timeout=10))
    assert (status, code) == (431, "header_fields_too_large") and "8192" in message


def test_too_many_headers_is_431_json(gunicorn_url: str) -> None:
    headers = {f"X-Extra-{n}": "1" for n in range(150)}
    status, code, message = _json_error(requests.get(f"{gunicorn_url}/api/v1/experiments", headers=headers, timeout=10))
    assert (status, code) == (431, "header_fields_too_large") and "100" in message


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
