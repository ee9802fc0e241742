"""Crafted requests get a clear 4xx in the one JSON error shape, never a 500 or a
503 "retry": bodies nested too deep or sent too large, filters too long or
nested too deep, control and bidi characters in names, notes, tags, filters
and ids (the same answer on SQLite and PostgreSQL: the `settings` and `store`
fixtures name whichever backend CI runs), and methods a route does not allow."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from gradatlas.service.api import create_app
from gradatlas.service.search.query import MAX_FILTER_DEPTH, MAX_FILTER_LENGTH

SPEC = {"name": "tiny", "model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh"}}
DEEP = ("[" * 10_000 + "]" * 10_000).encode()


@pytest.fixture
def app(settings, store):  # type: ignore[no-untyped-def]
    return create_app(settings, store=store, enqueue=lambda *_: None)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def admin(app):  # type: ignore[no-untyped-def]
    _, plaintext = app.extensions["gradatlas"].tokens.create("root", is_admin=True)
    return {"Authorization": f"Bearer {plaintext}"}


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.data
    body = response.get_json()
    assert set(body) == {"error", "request_id"} and {"code", "message", "details"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


def _submitted(client: Any, headers: dict[str, str]) -> str:
    response = client.post("/api/v1/experiments", json=SPEC, headers=headers)
    assert response.status_code == 202, response.data
    return response.get_json()["id"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("method, path", [("post", "/api/v1/experiments"), ("post", "/api/v1/sweeps"),
                                          ("post", "/api/v1/imports"), ("post", "/api/v1/tokens"), ("patch", None)])
def test_json_nested_past_the_limit_is_400_naming_the_limit(client, admin, settings, method, path):
    path = path or f"/api/v1/experiments/{_submitted(client, admin)}"
    response = getattr(client, method)(path, data=DEEP, content_type="application/json", headers=admin)
    error = _error(response, 400)
    assert f"limit of {settings.max_json_depth} levels" in error["message"] and f"byte {settings.max_json_depth}" in error["message"]


def test_brackets_inside_strings_do_not_count_and_the_limit_itself_still_parses(client, admin, settings):
    named = client.post("/api/v1/experiments", json={**SPEC, "name": "[{" * 90}, headers=admin)
    assert named.status_code == 202 and named.get_json()["name"] == "[{" * 90
    at_limit = "[" * settings.max_json_depth + "]" * settings.max_json_depth
    response = client.post("/api/v1/experiments", data=at_limit, content_type="application/json", headers=admin)
    assert _error(response, 422)["message"] == "the experiment spec must be a JSON object"


def test_a_chunked_body_over_the_limit_is_413_not_cut_to_invalid_json(client, admin, settings):
    # gunicorn (`gradatlas up`) terminates a chunked input itself and says so in the environ.
    def chunked(size: int) -> Any:
        body = b'{"name": "' + b"x" * (size - len(b'{"name": ""}')) + b'"}'
        return client.post("/api/v1/experiments", input_stream=io.BytesIO(body), headers={
            **admin, "Transfer-Encoding": "chunked", "Content-Type": "application/json"},
            environ_overrides={"wsgi.input_terminated": True})

    error = _error(chunked(5 * 1024 * 1024), 413)
    assert error["code"] == "payload_too_large" and str(settings.max_body_bytes) in error["message"]
    at_limit = _error(chunked(settings.max_body_bytes), 422)  # read whole: the spec's own rules answer
    assert at_limit["details"][0]["loc"] == ["name"]


@pytest.mark.parametrize("filter_text, position, limit", [
    ("(" * 400 + "id = 'x'" + ")" * 400, MAX_FILTER_DEPTH, f"at most {MAX_FILTER_DEPTH} nested"),
    ("NOT " * 400 + "id = 'x'", 4 * MAX_FILTER_DEPTH, f"at most {MAX_FILTER_DEPTH} nested"),
    ("id = 'x' OR " * 300 + "id = 'y'", MAX_FILTER_LENGTH, f"at most {MAX_FILTER_LENGTH} characters"),
])
def test_filters_too_deep_or_too_long_are_422_naming_the_limit_and_position(client, admin, filter_text, position, limit):
    response = client.get(f"/api/v1/experiments?{urlencode({'filter': filter_text})}", headers=admin)
    detail = _error(response, 422)["details"][0]
    assert detail["loc"] == ["query", "filter"] and detail["position"] == position and limit in detail["expected"]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


@pytest.fixture
def browser(app):  # type: ignore[no-untyped-def]
    """A client signed in to the pages."""
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    browser = app.test_client()
    assert browser.post("/login", data={"token": token, "csrf_token": _csrf(browser.get("/login").text)}).status_code == 302
    return browser


def test_the_history_page_shows_a_too_deep_filter_as_its_error(browser):
    page = browser.get(f"/experiments?{urlencode({'filter': '(' * 400 + 'id = 1' + ')' * 400})}")
    assert page.status_code == 200 and f"at most {MAX_FILTER_DEPTH} nested parentheses" in page.text


def test_the_submit_form_shows_too_deep_json_next_to_its_field(browser, settings):
    form = {"csrf_token": _csrf(browser.get("/submit").text), "extra": DEEP.decode()}
    page = browser.post("/submit", data=form)
    assert page.status_code == 422 and f"deeper than the limit of {settings.max_json_depth} levels" in page.text


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\u202e", "\x85"])
def test_control_and_bidi_characters_in_names_notes_and_tags_are_422_naming_the_field(client, admin, character):
    experiment_id = _submitted(client, admin)
    code = f"U+{ord(character):04X}"
    for body, loc in [({**SPEC, "name": f"a{character}b"}, ["name"]), ({**SPEC, "notes": f"a{character}"}, ["notes"]),
                      ({**SPEC, "tags": ["ok", f"{character}"]}, ["tags", 1])]:
        detail = _error(client.post("/api/v1/experiments", json=body, headers=admin), 422)["details"][0]
        assert detail["loc"] == loc and code in detail["msg"], body
        patched = client.patch(f"/api/v1/experiments/{experiment_id}", json={loc[0]: body[loc[0]]}, headers=admin)
        assert _error(patched, 422)["details"][0]["loc"] == loc
    swept = client.post("/api/v1/sweeps", json={"name": f"s{character}", "base": SPEC, "seeds": [1, 2]}, headers=admin)
    assert _error(swept, 422)["details"][0]["loc"] == ["name"]
    assert client.get(f"/api/v1/experiments/{experiment_id}", headers=admin).get_json()["name"] == SPEC["name"]


def test_notes_keep_their_line_breaks_and_tabs(client, admin):
    notes = "first line\n\tindented\r\nlast"
    response = client.post("/api/v1/experiments", json={**SPEC, "notes": notes}, headers=admin)
    assert response.status_code == 202 and response.get_json()["notes"] == notes


def test_a_nul_in_a_filter_is_422_at_its_position_on_every_backend(client, admin):
    _submitted(client, admin)
    for source in ("filter", "order_by"):
        text = "name = 'a\x00b'" if source == "filter" else "created_at\x00 desc"
        detail = _error(client.get(f"/api/v1/experiments?{urlencode({source: text})}", headers=admin), 422)["details"][0]
        assert detail["loc"] == ["query", source] and detail["position"] == text.index("\x00") and "U+0000" in detail["msg"]


def test_an_id_with_a_nul_is_404_on_every_backend_never_503(client, admin):
    experiment_id = _submitted(client, admin)
    crafted = f"{experiment_id}%00"
    for method, path in [("get", f"/api/v1/experiments/{crafted}"), ("get", f"/api/v1/experiments/{crafted}/profile"),
                         ("post", f"/api/v1/experiments/{crafted}/cancel"), ("delete", f"/api/v1/experiments/{crafted}"),
                         ("get", f"/api/v1/experiments/{crafted}/plot.png"), ("get", "/api/v1/sweeps/ab%00cd"),
                         ("delete", "/api/v1/tokens/ab%00cd"), ("get", f"/api/v1/compare?ids={crafted},{experiment_id}")]:
        assert _error(getattr(client, method)(path, headers=admin), 404)["code"] == "not_found", path
    nul_token = {"Authorization": "Bearer ga_ab\x00cd_secret"}
    assert _error(client.get("/api/v1/experiments", headers=nul_token), 401)["code"] == "unauthorized"


@pytest.mark.parametrize("method, path, allowed", [("TRACE", "/api/v1/experiments", {"GET", "POST"}),
                                                   ("PUT", "/api/v1/experiments/x", {"GET", "PATCH", "DELETE"}),
                                                   ("TRACE", "/healthz", {"GET"})])
def test_a_method_the_route_does_not_allow_is_405_with_allow(client, admin, method, path, allowed):
    response = client.open(path, method=method, headers=admin)
    assert _error(response, 405)["code"] == "method_not_allowed"
    assert allowed <= {part.strip() for part in response.headers["Allow"].split(",")}
