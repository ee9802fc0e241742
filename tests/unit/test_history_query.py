"""The history query language over HTTP, on whichever database the
environment names (SQLite by default, PostgreSQL in CI): every case is
checked against a Python oracle over the same records, so both backends must
return exactly the same rows in exactly the same order."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from gradatlas.service.api import create_app
from sqlalchemy import inspect

from tests.history_data import Seeded, oracle_order, seed_history, value


@pytest.fixture(scope="function")
def world(settings, store):  # type: ignore[no-untyped-def]
    app = create_app(settings, store=store, enqueue=lambda *_: None)
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    return app.test_client(), {"Authorization": f"Bearer {token}"}, seed_history(store)


def _all_pages(client: Any, headers: dict[str, str], limit: int = 200, **params: str) -> list[str]:
    ids, token = [], None
    while True:
        query = {**params, "limit": str(limit), **({"page_token": token} if token else {})}
        response = client.get(f"/api/v1/experiments?{urlencode(query)}", headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        ids += [item["id"] for item in body["items"]]
        token = body["next_page_token"]
        if token is None:
            return ids


def _v(row: Seeded, field: str) -> Any:
    return value(row, field)


CASES = [
    ("model.activation = 'sigmoid' AND model.depth > 10 AND summary.verdict != 'vanishing'",
     lambda r: _v(r, "model.activation") == "sigmoid" and _v(r, "model.depth") > 10
     and _v(r, "summary.verdict") not in (None, "vanishing")),
    ("tags CONTAINS 'lecture' and owner = 'alice'", lambda r: "lecture" in r.tags and r.owner == "alice"),
    ("training.lr = 1e-3", lambda r: _v(r, "training.lr") == 1e-3),
    ("training.lr < 5E-3 OR model.depth >= 40", lambda r: _v(r, "training.lr") < 5e-3 or _v(r, "model.depth") >= 40),
    ("model.init.weight_var IN (0.5, 4)", lambda r: _v(r, "model.init.weight_var") == 0.5),
    ("NOT (model.activation IN ('relu', 'tanh'))", lambda r: _v(r, "model.activation") == "sigmoid"),
    ("model.activation NOT IN ('relu') AND NOT model.depth = 5",
     lambda r: _v(r, "model.activation") != "relu" and _v(r, "model.depth") != 5),
    ("name LIKE 'run-1%'", lambda r: r.name.startswith("run-1")),
    ("name ILIKE 'run-1%'", lambda r: r.name.lower().startswith("run-1")),
    ("name NOT LIKE '%-1_'", lambda r: not (r.name[-3:-1] == "-1" and len(r.name.split("-")[1]) == 2)),
    ("summary.verdict IS NULL", lambda r: r.summary is None),
    ("summary.signal_ratio_init IS NOT NULL AND summary.signal_ratio_init <= 1e-3",
     lambda r: _v(r, "summary.signal_ratio_init") is not None and _v(r, "summary.signal_ratio_init") <= 1e-3),
    ("data.samples >= 1.5e3", lambda r: _v(r, "data.samples") >= 1500),
    ("model.bias = false", lambda r: _v(r, "model.bias") is False),
    ("summary.theory_gain > 0.5 AND (model.depth = 5 OR model.depth = 40)",
     lambda r: (_v(r, "summary.theory_gain") or 0) > 0.5 and _v(r, "model.depth") in (5, 40)),
    ("tags CONTAINS 'x''y'", lambda r: "x'y" in r.tags),
    ("created_at > '2000-01-01' AND finished_at IS NOT NULL", lambda r: r.summary is not None),
    ("status = 'queued' OR status = 'succeeded' AND model.activation = 'relu'",  # AND binds tighter
     lambda r: r.summary is None or _v(r, "model.activation") == "relu"),
    ("model.activation > 'sigmoid'", lambda r: _v(r, "model.activation") > "sigmoid"),
]


@pytest.mark.parametrize("filter_text, predicate", CASES, ids=[c[0][:60] for c in CASES])
def test_filters_match_the_oracle(world, filter_text, predicate):
    client, headers, rows = world
    matching = [r for r in rows if predicate(r)]
    # A case matching no row or every row could not tell a working filter from an ignored one.
    assert 0 < len(matching) < len(rows), filter_text
    expected = oracle_order(matching, [("created_at", True)])  # the default order, on the stored timestamps
    assert _all_pages(client, headers, filter=filter_text) == expected


def test_an_empty_filter_is_no_filter(world):
    client, headers, rows = world
    everything = oracle_order(rows, [("created_at", True)])
    assert _all_pages(client, headers, filter="") == _all_pages(client, headers) == everything
    assert len(everything) == 24


ORDERS = ["summary.signal_ratio_init asc, model.depth desc", "summary.signal_ratio_init desc",
          "model.activation, model.init.weight_var desc, summary.final_loss", "name desc", "model.depth", "id desc",
          "summary.theory_gain desc, owner asc"]


@pytest.mark.parametrize("order_by", ORDERS)
@pytest.mark.parametrize("limit", [1, 4, 200])
def test_order_by_is_total_nulls_last_and_keyset_pages_neither_skip_nor_repeat(world, order_by, limit):
    client, headers, rows = world
    keys = [(part.split()[0], part.split()[-1] == "desc") for part in order_by.split(",")]
    assert _all_pages(client, headers, limit=limit, order_by=order_by) == oracle_order(rows, keys)


def test_paging_through_a_filtered_sorted_query(world):
    client, headers, rows = world
    chosen = [r for r in rows if r.summary is not None]
    got = _all_pages(client, headers, limit=3, filter="status = 'succeeded'", order_by="summary.grad_ratio_init desc")
    assert got == oracle_order(chosen, [("summary.grad_ratio_init", True)])


@pytest.mark.parametrize("filter_text, position, expected", [
    ("model.depth >", 13, "a number"),
    ("model.depth = = 3", 14, "a number"),
    ("(model.depth = 3", 16, "')'"),
    ("model.depth = 3 model.width = 4", 16, "AND, OR"),
    ("colour = 'red'", 0, "a known field"),
    ("model.depth = 'ten'", 14, "a number for model.depth"),
    ("model.activation = 3", 19, "a quoted string"),
    ("name = 'unterminated", 20, "a closing '"),
    ("model.depth LIKE '1%'", 0, "a text field"),
    ("model.depth CONTAINS 'x'", 0, "CONTAINS with tags"),
    ("created_at > 'yesterday'", 13, "ISO 8601"),
    ("model.depth ~ 3", 12, "a field, value, operator"),
    ("model.depth IS 3", 15, "NULL"),
])
def test_bad_filters_are_422_with_position_and_expectation(world, filter_text, position, expected):
    client, headers, _ = world
    response = client.get(f"/api/v1/experiments?{urlencode({'filter': filter_text})}", headers=headers)
    assert response.status_code == 422, response.get_json()
    detail = response.get_json()["error"]["details"][0]
    assert detail["loc"] == ["query", "filter"] and detail["position"] == position
    assert expected in detail["expected"], detail


@pytest.mark.parametrize("order_by, position", [("model.depth sideways", 12), ("tags", 0), ("nope desc", 0),
                                                ("model.depth, model.depth", 13)])
def test_bad_order_by_is_422(world, order_by, position):
    client, headers, _ = world
    response = client.get(f"/api/v1/experiments?{urlencode({'order_by': order_by})}", headers=headers)
    assert response.status_code == 422
    detail = response.get_json()["error"]["details"][0]
    assert detail["loc"] == ["query", "order_by"] and detail["position"] == position


def test_a_page_token_only_continues_the_order_it_was_issued_for(world):
    client, headers, _ = world
    token = client.get("/api/v1/experiments?limit=2&order_by=model.depth", headers=headers).get_json()["next_page_token"]
    response = client.get(f"/api/v1/experiments?limit=2&order_by=name&page_token={token}", headers=headers)
    assert response.status_code == 422 and "another order_by" in response.get_json()["error"]["message"]
    assert client.get("/api/v1/experiments?limit=201", headers=headers).status_code == 422


@pytest.mark.parametrize("attack", ["'; DROP TABLE experiments; --", "x' OR '1'='1", "\" OR 1=1 --", "%' OR name LIKE '%",
                                    "run-1); DELETE FROM experiments; --", "ümlaut ✓ \\ _ %"])
def test_injection_attempts_stay_literal(world, store, attack):
    client, headers, rows = world
    quoted = "'" + attack.replace("'", "''") + "'"
    for filter_text in (f"name = {quoted}", f"tags CONTAINS {quoted}", f"model.activation IN ({quoted}, 'nope')",
                        f"summary.note = {quoted}"):
        assert _all_pages(client, headers, filter=filter_text) == []
    made = client.post("/api/v1/experiments", headers=headers, json={
        "name": attack, "tags": [attack[:64]], "model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}})
    assert made.status_code == 202
    assert _all_pages(client, headers, filter=f"name = {quoted}") == [made.get_json()["id"]]
    assert _all_pages(client, headers, filter=f"tags CONTAINS {quoted}") == [made.get_json()["id"]]
    with store.engine.connect() as connection:
        assert "experiments" in inspect(connection).get_table_names()
    assert len(_all_pages(client, headers)) == len(rows) + 1


def test_a_forged_or_foreign_page_token_is_422(world, settings):
    """Tokens are signed under the pepper: editing the keyset values, or
    signing with another pepper, gives the same 422 as garbage."""
    import base64
    import json

    from gradatlas.service.search import page_tokens

    client, headers, _ = world
    token = client.get("/api/v1/experiments?limit=2", headers=headers).get_json()["next_page_token"]
    assert client.get(f"/api/v1/experiments?limit=2&page_token={token}", headers=headers).status_code == 200
    body, _, signature = token.partition(".")
    payload = page_tokens.decode(token, settings.resolved_pepper())
    payload["v"][-1] = "z" * 24  # another last id
    edited = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    foreign = page_tokens.encode(payload, "another installation's pepper")
    for forged in (f"{edited}.{signature}", foreign, body, "garbage!"):
        response = client.get(f"/api/v1/experiments?{urlencode({'limit': 2, 'page_token': forged})}", headers=headers)
        assert response.status_code == 422, forged
        assert response.get_json()["error"]["message"] == "page_token is not a token this service issued"
