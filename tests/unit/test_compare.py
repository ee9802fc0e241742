"""GET /api/v1/compare: profiles aligned by layer index and recorded step,
only the differing spec fields, summaries side by side; 422 saying why when
the runs cannot be aligned."""

from __future__ import annotations

import numpy as np
import pytest
from gradatlas.service.api import create_app
from gradatlas.service.contracts.spec import ExperimentSpec


def _run(store, depth: int, steps: list[int], metrics=("grad_norm", "signal_norm"), lr=0.01, **extra):  # type: ignore[no-untyped-def]
    model = {"arch": "mlp", "depth": depth, "width": 4, "activation": "tanh", **extra.pop("model", {})}
    spec = ExperimentSpec.model_validate({"model": model, "training": {"steps": steps[-1] + 1, "lr": lr}, **extra})
    experiment = store.create_experiment(spec, "alice", "cpu")
    n = depth + 1
    values = np.arange(len(steps) * n, dtype=float).reshape(len(steps), n) + depth
    profile = {"layers": [{"index": i, "name": f"hidden.{i}" if i < depth else "readout", "kind": "linear", "shape": [4, 4]}
                          for i in range(n)], "steps": steps, "loss": [2.0 - k / 10 for k in range(len(steps))],
               "accuracy": [0.1] * len(steps), "metrics": {m: values for m in metrics}, "total_steps": steps[-1] + 1}
    assert store.complete(store.claim(experiment.id, {}), profile, {"verdict": "healthy", "signal_ratio_init": float(depth)}, {})
    return experiment.id


@pytest.fixture
def client_headers(settings, store):  # type: ignore[no-untyped-def]
    app = create_app(settings, store=store, enqueue=lambda *_: None)
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def test_compare_aligns_by_layer_and_step(store, client_headers):
    client, headers = client_headers
    shallow, deep = _run(store, 2, [0, 5, 9]), _run(store, 3, [0, 3, 6, 9], lr=0.1)
    body = client.get(f"/api/v1/compare?ids={shallow},{deep}", headers=headers).get_json()
    assert body["ids"] == [shallow, deep] and body["steps"] == [0, 3, 5, 6, 9]
    assert [layer["names"] for layer in body["layers"]] == [["hidden.0", "hidden.0"], ["hidden.1", "hidden.1"],
                                                            ["readout", "hidden.2"], [None, "readout"]]
    shallow_rows, deep_rows = body["metrics"]["grad_norm"]
    assert shallow_rows[0] == [2.0, 3.0, 4.0, None] and shallow_rows[1] == [None] * 4 and shallow_rows[2] == [5.0, 6.0, 7.0, None]
    assert deep_rows[1] == [7.0, 8.0, 9.0, 10.0] and deep_rows[2] == [None] * 4
    assert body["loss"][0] == [2.0, None, 1.9, None, 1.8]
    assert set(body["spec_differences"]) == {"model.depth", "training.lr"}
    assert body["spec_differences"]["model.depth"] == [2, 3]
    assert body["summary"]["signal_ratio_init"] == [2.0, 3.0] and body["summary"]["verdict"] == ["healthy", "healthy"]
    narrowed = client.get(f"/api/v1/compare?ids={shallow},{deep}&metrics=signal_norm", headers=headers).get_json()
    assert list(narrowed["metrics"]) == ["signal_norm"]


def test_compare_refuses_what_cannot_be_aligned(store, client_headers):
    client, headers = client_headers
    done = _run(store, 2, [0, 1])
    other = _run(store, 2, [0, 1], metrics=("weight_norm",))
    queued = store.create_experiment(ExperimentSpec.model_validate(
        {"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "tanh"}}), "alice", "cpu").id
    cases = [(f"{done},{queued}", 422, "no profile"), (f"{done},{other}", 422, "share no recorded metric"),
             (f"{done}", 422, "2 to 10"), (f"{done},{done}", 422, "different"), (f"{done},nope", 404, "nope")]
    for ids, status, words in cases:
        response = client.get(f"/api/v1/compare?ids={ids}", headers=headers)
        assert response.status_code == status and words in response.get_json()["error"]["message"], response.get_json()
    response = client.get(f"/api/v1/compare?ids={done},{other}&metrics=grad_norm", headers=headers)
    assert response.status_code == 422 and "did not record 'grad_norm'" in response.get_json()["error"]["message"]


def test_compare_lists_only_fields_the_runs_read_never_labels(store, client_headers):
    client, headers = client_headers
    first = _run(store, 2, [0, 1], name="first", notes="a", tags=["x"], model={"cell": "lstm", "init": {"scheme": "xavier_normal"}})
    second = _run(store, 3, [0, 1], name="second", notes="b", tags=["y"],
                  model={"cell": "gru", "init": {"scheme": "xavier_normal", "weight_var": 4.0}})
    body = client.get(f"/api/v1/compare?ids={first},{second}", headers=headers).get_json()
    assert body["spec_differences"] == {"model.depth": [2, 3]}  # an MLP reads no cell; xavier reads no weight_var
    assert [run["name"] for run in body["runs"]] == ["first", "second"]
