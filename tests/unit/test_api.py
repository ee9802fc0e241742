"""The HTTP contract of docs/api.md, in process, on a real database (SQLite, or
PostgreSQL when CI names it) with a recording enqueue."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gradatlas.service.api import create_app

SPEC = {"name": "tiny", "model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh"}}


@pytest.fixture
def published() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def app(settings, store, published):  # type: ignore[no-untyped-def]
    return create_app(settings, store=store, enqueue=lambda experiment_id, queue: published.append((experiment_id, queue)))


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def _token(app: Any, name: str, admin: bool = False) -> dict[str, str]:
    _, plaintext = app.extensions["gradatlas"].tokens.create(name, is_admin=admin)
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
def alice(app):  # type: ignore[no-untyped-def]
    return _token(app, "alice")


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "request_id"} and body["request_id"]
    assert {"code", "message", "details"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


def test_submit_queues_stores_the_normalised_spec_and_publishes_after_commit(client, alice, published, store):
    response = client.post("/api/v1/experiments", json=SPEC, headers=alice)
    assert response.status_code == 202
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/experiments/{body['id']}"
    assert body["status"] == "queued" and body["owner"] == "alice" and body["attempt"] == 0
    assert body["spec"]["training"]["steps"] == 100 and body["spec"]["data"]["input_dim"] == 64
    assert published == [(body["id"], "cpu")]
    assert store.get_experiment(body["id"]).status == "queued"
    fetched = client.get(response.headers["Location"], headers=alice).get_json()
    assert fetched["id"] == body["id"] and fetched["progress"] == {"step": 0, "total": 100}


def test_broker_down_at_submit_still_accepts_and_leaves_the_row_for_recovery(settings, store):
    def broken(_id: str, _queue: str) -> None:
        raise ConnectionError("broker down")

    app = create_app(settings, store=store, enqueue=broken)
    response = app.test_client().post("/api/v1/experiments", json=SPEC, headers=_token(app, "bob"))
    assert response.status_code == 202
    report = store.recover(requeue_after_s=60, stale_after_s=30, max_attempts=3)
    assert [experiment_id for experiment_id, _ in report.republish] == [response.get_json()["id"]]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer ga_000000000000_wrong"}])
def test_every_v1_route_needs_a_valid_token(client, headers):
    for method, path in [("get", "/api/v1/experiments"), ("post", "/api/v1/experiments"), ("get", "/api/v1/experiments/x"),
                         ("get", "/api/v1/experiments/x/profile"), ("post", "/api/v1/experiments/x/cancel")]:
        assert _error(getattr(client, method)(path, headers=headers), 401)["code"] == "unauthorized"


def test_revoked_token_is_refused(app, client):
    tokens = app.extensions["gradatlas"].tokens
    info, plaintext = tokens.create("carol")
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/experiments", headers=headers).status_code == 200
    assert tokens.revoke(info.id)
    _error(client.get("/api/v1/experiments", headers=headers), 401)


def test_a_token_revoked_elsewhere_is_refused_once_the_cache_time_has_passed(app, client, store, settings):
    """Each API process accepts a token it has checked for token_cache_s seconds;
    revoking it through another process (the CLI) takes effect within that time."""
    from gradatlas.service.auth.tokens import Tokens

    now = [1000.0]
    tokens = app.extensions["gradatlas"].tokens
    tokens._clock = lambda: now[0]
    info, plaintext = tokens.create("erin")
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/experiments", headers=headers).status_code == 200
    assert Tokens(store, settings.resolved_pepper()).revoke(info.id)  # as `gradatlas token revoke` does
    now[0] += settings.token_cache_s - 0.1
    assert client.get("/api/v1/experiments", headers=headers).status_code == 200
    now[0] += 0.2
    _error(client.get("/api/v1/experiments", headers=headers), 401)


def test_the_token_cache_never_accepts_a_wrong_secret_for_a_cached_id(app, client):
    tokens = app.extensions["gradatlas"].tokens
    _, plaintext = tokens.create("frank")
    assert client.get("/api/v1/experiments", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
    forged = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    _error(client.get("/api/v1/experiments", headers={"Authorization": f"Bearer {forged}"}), 401)


def test_token_table_holds_no_plaintext(app, store):
    from gradatlas.service.store.tables import TokenRow
    from sqlalchemy import select

    _, plaintext = app.extensions["gradatlas"].tokens.create("dave")
    with store.session() as session:
        stored = [(row.id, row.secret_hash) for row in session.scalars(select(TokenRow))]
    secret = plaintext.split("_", 2)[2]
    assert stored and all(secret not in value and secret not in token_id for token_id, value in stored)


def test_malformed_json_is_400_wrong_type_415_and_oversized_413(client, alice, store):
    _error(client.post("/api/v1/experiments", data="{nope", headers={**alice, "Content-Type": "application/json"}), 400)
    _error(client.post("/api/v1/experiments", data="a=b", headers={**alice, "Content-Type": "application/x-www-form-urlencoded"}), 415)
    big = '{"name": "' + "x" * (1024 * 1024 + 10) + '"}'
    _error(client.post("/api/v1/experiments", data=big, headers={**alice, "Content-Type": "application/json"}), 413)
    assert client.get("/api/v1/experiments", headers=alice).get_json()["items"] == []


@pytest.mark.parametrize("patch, loc, words", [
    ({"model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh", "colour": "red"}}, ["model", "colour"], "Extra"),
    ({"model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh"}, "probe": {"histogram_bins": 64}}, ["probe", "histogram_bins"], "Extra"),
    ({"model": {"arch": "mlp", "depth": 0, "width": 8, "activation": "tanh"}}, ["model", "depth"], "greater than or equal to 1"),
    ({"model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh"}, "training": {"steps": 10**9}}, ["training", "steps"], "10000000"),
    ({"model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "swish"}}, ["model", "activation"], "sigmoid"),
    ({"model": {"arch": "cnn", "depth": 3, "width": 8, "activation": "relu"}, "data": {"name": "iris"}}, ["data", "name"], "cnn reads"),
    ({"model": {"arch": "cnn", "depth": 3, "width": 8, "activation": "relu"}, "data": {"input_dim": 10}}, ["data", "input_dim"], "perfect square"),
    ({"model": {"arch": "mlp", "depth": 1000, "width": 16384, "activation": "relu"}}, ["model"], "parameter count"),
    ({"model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh"}, "training": {"steps": 200000}}, ["training", "steps"], "limit 1e+05"),
    ({"model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh"}, "data": {"name": "digits", "input_dim": 5}}, ["data"], "input_dim 64"),
])
def test_invalid_specs_are_422_naming_the_field_and_the_limit(client, alice, published, patch, loc, words):
    error = _error(client.post("/api/v1/experiments", json=patch, headers=alice), 422)
    assert any(detail["loc"][: len(loc)] == loc and words in detail["msg"] for detail in error["details"]), error
    assert published == []



def test_a_spec_stored_with_the_retired_null_histogram_bins_still_reads_back():
    """Specs stored before histogram_bins was retired all carry it as null."""
    from gradatlas.service.contracts.spec import ExperimentSpec

    stored = ExperimentSpec.model_validate(SPEC).model_dump(mode="json")
    stored["probe"]["histogram_bins"] = None
    assert ExperimentSpec.model_validate(stored).model_dump(mode="json") == ExperimentSpec.model_validate(SPEC).model_dump(mode="json")

def test_list_is_newest_first_and_pages_without_gaps_or_repeats(client, alice):
    ids = [client.post("/api/v1/experiments", json={**SPEC, "name": f"e{i}"}, headers=alice).get_json()["id"] for i in range(7)]
    seen, token = [], None
    while True:
        query = "limit=3" + (f"&page_token={token}" if token else "")
        page = client.get(f"/api/v1/experiments?{query}", headers=alice).get_json()
        seen += [item["id"] for item in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == ids[::-1]
    _error(client.get("/api/v1/experiments?limit=500", headers=alice), 422)
    _error(client.get("/api/v1/experiments?page_token=garbage!", headers=alice), 422)


def test_cancel_queued_is_immediate_idempotent_and_owner_only(app, client, alice):
    experiment_id = client.post("/api/v1/experiments", json=SPEC, headers=alice).get_json()["id"]
    _error(client.post(f"/api/v1/experiments/{experiment_id}/cancel", headers=_token(app, "mallory")), 403)
    first = client.post(f"/api/v1/experiments/{experiment_id}/cancel", headers=alice)
    assert first.status_code == 200 and first.get_json()["status"] == "cancelled"
    again = client.post(f"/api/v1/experiments/{experiment_id}/cancel", headers=_token(app, "root", admin=True))
    assert again.status_code == 200 and again.get_json()["status"] == "cancelled"


def test_cancel_of_a_finished_experiment_is_409(client, alice, store):
    experiment_id = client.post("/api/v1/experiments", json=SPEC, headers=alice).get_json()["id"]
    claim = store.claim(experiment_id, {})
    assert store.finish(claim, "failed", "error", "boom")
    _error(client.post(f"/api/v1/experiments/{experiment_id}/cancel", headers=alice), 409)
    assert store.get_experiment(experiment_id).status == "failed"


def test_unknown_experiment_and_route_and_method_are_json(client, alice):
    assert _error(client.get("/api/v1/experiments/nope", headers=alice), 404)["code"] == "not_found"
    assert _error(client.get("/api/v1/experiments/nope/profile", headers=alice), 404)["code"] == "not_found"
    assert _error(client.get("/no/such/route"), 404)["code"] == "not_found"
    assert _error(client.delete("/healthz"), 405)["code"] == "method_not_allowed"


def test_profile_before_it_exists_is_404(client, alice):
    experiment_id = client.post("/api/v1/experiments", json=SPEC, headers=alice).get_json()["id"]
    assert "no profile" in _error(client.get(f"/api/v1/experiments/{experiment_id}/profile", headers=alice), 404)["message"]


def test_openapi_is_generated_from_the_validating_models(client):
    document = client.get("/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert "ExperimentSpec" in schemas and "Experiment" in schemas and "ErrorResponse" in schemas
    spec_schema = schemas["ModelSpec"]
    assert set(spec_schema["required"]) == {"arch", "depth", "width", "activation"}
    assert spec_schema["additionalProperties"] is False
    assert "/api/v1/experiments/{experiment_id}/profile" in document["paths"]
    assert client.get("/api/docs").status_code == 200


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["database"] == "ok"


def test_readiness_is_503_when_the_database_is_gone(settings, tmp_path):
    from gradatlas.service.store.gateway import Store

    broken = Store.from_url("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(settings, store=broken, enqueue=lambda *_: None)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["checks"]["database"].startswith("unavailable")


def test_theory_answers_the_mean_field_prediction(client, alice):
    body = client.get("/api/v1/theory?activation=relu&weight_var=1", headers=alice).get_json()
    assert body["chi1"] == pytest.approx(0.5) and body["gain"] == pytest.approx(0.5**0.5)
    assert body["depth_scale"] == pytest.approx(1 / np.log(2)) and body["critical_weight_var"] == pytest.approx(2.0)
    tanh = client.get("/api/v1/theory?activation=tanh&weight_var=4&bias_var=0", headers=alice).get_json()
    assert tanh["chi1"] == pytest.approx(1.3627, abs=5e-5) and tanh["q_star"] > 0
    assert tanh["critical_weight_var"] == pytest.approx(1.0, rel=1e-6)
    assert client.get("/api/v1/theory?activation=relu&weight_var=1").status_code == 401


@pytest.mark.parametrize("query, name", [
    ("activation=swish&weight_var=1", "activation"), ("weight_var=1", "activation"),
    ("activation=tanh", "weight_var"), ("activation=tanh&weight_var=abc", "weight_var"),
    ("activation=tanh&weight_var=-1", "weight_var"), ("activation=tanh&weight_var=1&bias_var=nan", "bias_var"),
])
def test_theory_422_names_the_bad_parameter(client, alice, query, name):
    error = _error(client.get(f"/api/v1/theory?{query}", headers=alice), 422)
    assert error["details"][0]["loc"] == ["query", name]
