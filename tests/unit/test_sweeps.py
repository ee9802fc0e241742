"""POST/GET /api/v1/sweeps in process: points, validation before anything
is stored, counts and table, CSV, and same-shaped points published as one batch."""

from __future__ import annotations

import csv
import io

import pytest
from gradatlas.service.api import create_app

BASE = {"model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh", "init": {"scheme": "normal"}},
        "training": {"steps": 5}}


class Recording:
    def __init__(self) -> None:
        self.single: list[str] = []
        self.batches: list[list[str]] = []

    def __call__(self, experiment_id: str, queue: str) -> None:
        self.single.append(experiment_id)

    def batch(self, experiment_ids: list[str], queue: str) -> None:
        self.batches.append(list(experiment_ids))


@pytest.fixture
def setup(settings, store):  # type: ignore[no-untyped-def]
    enqueue = Recording()
    app = create_app(settings, store=store, enqueue=enqueue)
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    return app.test_client(), {"Authorization": f"Bearer {token}"}, enqueue


def test_a_grid_with_seeds_makes_one_experiment_per_point_and_batches_same_shapes(setup):
    client, headers, enqueue = setup
    body = {"name": "depth-by-var", "base": BASE, "grid": {"model.depth": [2, 4], "model.init.weight_var": [0.5, 1, 2]},
            "seeds": [0, 1]}
    response = client.post("/api/v1/sweeps", json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    sweep = response.get_json()
    assert response.headers["Location"] == f"/api/v1/sweeps/{sweep['id']}"
    assert sweep["n_points"] == 12 and sweep["axes"] == ["model.depth", "model.init.weight_var", "seed"]
    assert sweep["counts"] == {"queued": 12}
    table = sweep["table"]
    assert [row["values"] for row in table[:3]] == [{"model.depth": 2, "model.init.weight_var": 0.5, "seed": 0},
                                                   {"model.depth": 2, "model.init.weight_var": 0.5, "seed": 1},
                                                   {"model.depth": 2, "model.init.weight_var": 1.0, "seed": 0}]
    by_depth = {depth: {row["experiment_id"] for row in table if row["values"]["model.depth"] == depth} for depth in (2, 4)}
    assert sorted(map(set, enqueue.batches), key=len) == [by_depth[2], by_depth[4]] and enqueue.single == []
    found = client.get(f"/api/v1/experiments?filter=sweep_id = '{sweep['id']}' AND model.depth = 4", headers=headers).get_json()
    assert {item["id"] for item in found["items"]} == by_depth[4]
    assert found["items"][0]["name"].startswith("depth-by-var[")
    listed = client.get("/api/v1/sweeps", headers=headers).get_json()["items"]
    assert [s["id"] for s in listed] == [sweep["id"]] and listed[0]["table"] is None


def test_random_axes_are_drawn_reproducibly(setup):
    client, headers, _ = setup
    body = {"base": BASE, "random": {"samples": 5, "seed": 3, "ranges": {"training.lr": {"min": 1e-4, "max": 1e-1, "log": True},
                                                                         "model.activation": ["relu", "tanh"]}}}
    first = client.post("/api/v1/sweeps", json=body, headers=headers).get_json()
    second = client.post("/api/v1/sweeps", json=body, headers=headers).get_json()
    values = [row["values"] for row in first["table"]]
    assert values == [row["values"] for row in second["table"]] and len(values) == 5
    assert all(1e-4 <= v["training.lr"] <= 1e-1 and v["model.activation"] in ("relu", "tanh") for v in values)


@pytest.mark.parametrize("body, words, loc", [
    ({"base": BASE, "grid": {"model.depth": [2, 0, -1]}}, "point 1 (model.depth=0)", ["points", 1, "model", "depth"]),
    ({"base": BASE, "grid": {"model.activation": ["tanh", "swish"]}}, "point 1", ["points", 1, "model", "activation"]),
    ({"base": BASE, "grid": {"model.width": [8, 16384], "model.depth": [1000]}}, "point 1", ["points", 1, "model"]),
    ({"base": BASE, "grid": {"model.colour": [1]}}, "not a spec field", None),
    ({"base": BASE, "grid": {"owner": ["bob"]}}, "not a spec field", None),
    ({"base": BASE, "grid": {"model.depth": list(range(1, 40))}, "seeds": list(range(30))}, "1 to 1000 points", None),
    ({"base": BASE, "grids": {}}, "not valid", None),
])
def test_a_bad_point_rejects_the_whole_sweep_and_stores_nothing(setup, store, body, words, loc):
    client, headers, enqueue = setup
    response = client.post("/api/v1/sweeps", json=body, headers=headers)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert words in error["message"], error
    if loc:
        assert any(detail["loc"][: len(loc)] == loc for detail in error["details"]), error
    assert client.get("/api/v1/experiments", headers=headers).get_json()["items"] == []
    assert enqueue.single == enqueue.batches == []
    assert client.get("/api/v1/sweeps", headers=headers).get_json()["items"] == []


def test_the_table_as_csv(setup, store):
    client, headers, _ = setup
    sweep = client.post("/api/v1/sweeps", json={"base": BASE, "grid": {"training.lr": [0.1, 0.01]}}, headers=headers).get_json()
    first = sweep["table"][0]["experiment_id"]
    claim = store.claim(first, {})
    profile = {"layers": [{"index": 0, "name": "l", "kind": "linear", "shape": [1, 1]}], "steps": [0], "loss": [1.0],
               "accuracy": [0.5], "metrics": {"grad_norm": [[1.0]]}, "total_steps": 5}
    assert store.complete(claim, profile, {"verdict": "healthy", "signal_ratio_init": 0.5}, {})
    response = client.get(f"/api/v1/sweeps/{sweep['id']}/table?format=csv", headers=headers)
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["index"], r["training.lr"], r["status"], r["verdict"], r["signal_ratio_init"]) for r in rows] == [
        ("0", "0.1", "succeeded", "healthy", "0.5"), ("1", "0.01", "queued", "", "")]
    assert client.get(f"/api/v1/sweeps/{sweep['id']}", headers=headers).get_json()["counts"] == {"queued": 1, "succeeded": 1}
    assert client.get("/api/v1/sweeps/nope", headers=headers).status_code == 404


def test_openapi_describes_the_history_routes_from_their_models(setup):
    client, _, _ = setup
    document = client.get("/api/openapi.json").get_json()
    for path, method in [("/api/v1/sweeps", "post"), ("/api/v1/sweeps/{sweep_id}", "get"), ("/api/v1/compare", "get"),
                         ("/api/v1/imports", "post"), ("/api/v1/experiments/{experiment_id}", "patch"),
                         ("/api/v1/experiments/{experiment_id}", "delete"), ("/api/v1/sweeps/{sweep_id}/table", "get")]:
        assert method in document["paths"][path], (path, method)
    assert "get" in document["paths"]["/api/v1/experiments/{experiment_id}"]
    schemas = document["components"]["schemas"]
    assert {"SweepRequest", "Sweep", "Comparison", "ImportBody", "ExperimentPatch"} <= set(schemas)
    assert schemas["ExperimentPatch"]["additionalProperties"] is False
    names = [p["name"] for p in document["paths"]["/api/v1/experiments"]["get"]["parameters"]]
    assert {"filter", "order_by", "limit", "page_token"} <= set(names)


def test_a_sweep_the_broker_refuses_is_accepted_logged_and_left_for_recovery(settings, store, caplog):
    """The same fallback as a single submit: the points stay `queued` and
    unpublished (recovery publishes them), and the log says so."""

    class Down(Recording):
        def batch(self, experiment_ids: list[str], queue: str) -> None:
            raise ConnectionError("broker down")

    app = create_app(settings, store=store, enqueue=Down())
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    body = {"base": BASE, "grid": {"model.depth": [2, 2, 2]}}
    with caplog.at_level("WARNING", logger="gradatlas.submit"):
        response = app.test_client().post("/api/v1/sweeps", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.get_json()
    ids = [row["experiment_id"] for row in response.get_json()["table"]]
    assert any("could not publish" in record.getMessage() and ids[0] in record.getMessage() for record in caplog.records)
    republish = store.recover(requeue_after_s=60, stale_after_s=30, max_attempts=3).republish
    assert sorted(experiment_id for experiment_id, _ in republish) == sorted(ids)


def test_points_of_a_sweep_with_the_longest_name_keep_names_that_fit(setup):
    """A point is named `sweep-name[index]`: with a 200-character sweep name that
    was 204 characters, which PostgreSQL refused (a 503) and SQLite stored."""
    client, headers, _ = setup
    body = {"name": "s" * 200, "base": BASE, "grid": {"model.depth": list(range(2, 14))}}
    response = client.post("/api/v1/sweeps", json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    names = [client.get(f"/api/v1/experiments/{row['experiment_id']}", headers=headers).get_json()["name"]
             for row in response.get_json()["table"]]
    assert names == [("s" * 200)[: 200 - len(f"[{i}]")] + f"[{i}]" for i in range(12)]
