"""GET /api/v1/tokens and /api/v1/sweeps in keyset pages: `limit` (1 to 200),
`page_token`, `next_page_token` (null on the last page), and 422 for a token
another list issued, as on /api/v1/experiments."""

from __future__ import annotations

from typing import Any

import pytest
from gradatlas.service.api import create_app

BASE = {"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "tanh"}, "training": {"steps": 2}}


@pytest.fixture
def setup(settings, store):  # type: ignore[no-untyped-def]
    app = create_app(settings, store=store, enqueue=lambda *_: None)
    _, token = app.extensions["gradatlas"].tokens.create("root", is_admin=True)
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def _walk(client, path: str, headers: dict[str, str], limit: int) -> tuple[list[list[dict[str, Any]]], dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every page of `path`, following next_page_token; and the last body."""
    pages, token = [], None
    while True:
        query = f"?limit={limit}" + (f"&page_token={token}" if token else "")
        response = client.get(path + query, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        pages.append(body["items"])
        token = body["next_page_token"]
        if token is None:
            return pages, body


def test_tokens_come_in_pages_oldest_first_and_every_one_once(setup):
    client, admin = setup
    for n in range(11):
        assert client.post("/api/v1/tokens", json={"name": f"user{n}"}, headers=admin).status_code == 201
    pages, _ = _walk(client, "/api/v1/tokens", admin, limit=5)
    assert [len(page) for page in pages] == [5, 5, 2]
    names = [item["name"] for page in pages for item in page]
    assert names == ["root"] + [f"user{n}" for n in range(11)]


def test_sweeps_come_in_pages_newest_first_and_every_one_once(setup):
    client, headers = setup
    made = [client.post("/api/v1/sweeps", json={"name": f"s{n}", "base": BASE, "seeds": [n]}, headers=headers).get_json()["id"]
            for n in range(5)]
    pages, _ = _walk(client, "/api/v1/sweeps", headers, limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item["id"] for page in pages for item in page] == made[::-1]


def test_a_short_list_has_no_next_page(setup):
    client, headers = setup
    body = client.get("/api/v1/sweeps", headers=headers).get_json()
    assert body == {"items": [], "next_page_token": None}
    assert client.get("/api/v1/tokens?limit=5", headers=headers).get_json()["next_page_token"] is None


def test_a_page_token_from_another_list_or_forged_is_422(setup):
    client, headers = setup
    for n in range(3):
        client.post("/api/v1/tokens", json={"name": f"user{n}"}, headers=headers)
        client.post("/api/v1/sweeps", json={"base": BASE, "seeds": [n]}, headers=headers)
        client.post("/api/v1/experiments", json=BASE, headers=headers)
    tokens_token = client.get("/api/v1/tokens?limit=1", headers=headers).get_json()["next_page_token"]
    sweeps_token = client.get("/api/v1/sweeps?limit=1", headers=headers).get_json()["next_page_token"]
    experiments_token = client.get("/api/v1/experiments?limit=1", headers=headers).get_json()["next_page_token"]
    for path, foreign in [("/api/v1/tokens", sweeps_token), ("/api/v1/tokens", experiments_token),
                          ("/api/v1/sweeps", tokens_token), ("/api/v1/sweeps", experiments_token),
                          ("/api/v1/sweeps", tokens_token[:-2] + "AA"), ("/api/v1/tokens", "garbage")]:
        response = client.get(f"{path}?page_token={foreign}", headers=headers)
        assert response.status_code == 422, (path, response.get_json())
        assert response.get_json()["error"]["details"][0]["loc"] == ["query", "page_token"]


@pytest.mark.parametrize("limit", ["0", "201", "many"])
def test_a_limit_outside_1_to_200_is_422(setup, limit: str):
    client, headers = setup
    for path in ("/api/v1/tokens", "/api/v1/sweeps"):
        response = client.get(f"{path}?limit={limit}", headers=headers)
        assert response.status_code == 422 and response.get_json()["error"]["details"][0]["loc"] == ["query", "limit"]
