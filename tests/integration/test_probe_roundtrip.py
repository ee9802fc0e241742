"""The probe round trip: record a plain training loop on digits with
GradientProbe → POST /api/v1/imports → find it with a history query →
compare it with a service-run experiment of the same spec (run by a real
worker process)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from gradatlas.service.api import create_app
from gradatlas.worker.engine import GradientProbe
from gradatlas.worker.engine.export import loop_layers
from sklearn.datasets import load_digits
from torch import nn

from tests.support import service_env, wait_for, worker_process

SPEC = {"name": "digits-tanh", "model": {"arch": "mlp", "depth": 3, "width": 32, "activation": "tanh"},
        "data": {"name": "digits", "batch_size": 64}, "training": {"steps": 30, "lr": 0.05}, "probe": {"every": 10},
        "device": "cpu"}


def train_in_a_plain_loop() -> dict:
    """What a user writes: their own model, data, optimiser and loop."""
    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    y = torch.tensor(digits.target)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                          nn.Linear(32, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    probe = GradientProbe(model, layers=loop_layers(model))
    for step in range(30):
        idx = torch.randint(0, len(y), (64,))
        recording = step % 10 == 0 or step == 29
        with probe.watching() if recording else torch.enable_grad():
            logits = model(x[idx])
        loss = F.cross_entropy(logits, y[idx])
        optimizer.zero_grad()
        loss.backward()
        if recording:
            probe.after_backward()
        optimizer.step()
        if recording:
            probe.after_step()
            probe.record(step, loss, (logits.argmax(1) == y[idx]).float().mean())
    return probe.to_import(name="my-loop", tags=["lecture"], spec=SPEC)


@pytest.fixture
def api(settings, store):  # type: ignore[no-untyped-def]
    app = create_app(settings, store=store)
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def test_record_import_query_compare(api, settings, store, tmp_path: Path):
    client, headers = api
    body = train_in_a_plain_loop()
    assert body["profile"]["steps"] == [0, 10, 20, 29] and len(body["profile"]["layers"]) == 4
    imported = client.post("/api/v1/imports", json=body, headers=headers)
    assert imported.status_code == 201, imported.get_json()
    imported = imported.get_json()
    assert imported["source"] == "import" and imported["status"] == "succeeded" and imported["tags"] == ["lecture"]
    assert imported["summary"]["verdict"] in ("healthy", "vanishing", "exploding")
    served = client.post("/api/v1/experiments", json=SPEC, headers=headers).get_json()
    env = service_env(settings.home, settings.database_url, settings.broker_url, heartbeat_interval_s=0.5)
    with worker_process(env, tmp_path / "worker.log"):
        wait_for(lambda: store.get_experiment(served["id"]).status == "succeeded", timeout=120, what="the service run")
    found = client.get("/api/v1/experiments?filter=source = 'import' AND model.depth = 3 AND tags CONTAINS 'lecture'",
                       headers=headers).get_json()["items"]
    assert [item["id"] for item in found] == [imported["id"]]
    both = client.get("/api/v1/experiments?filter=model.activation = 'tanh' AND data.name = 'digits'&order_by=source",
                      headers=headers).get_json()["items"]
    assert [item["source"] for item in both] == ["import", "service"]
    comparison = client.get(f"/api/v1/compare?ids={imported['id']},{served['id']}", headers=headers).get_json()
    assert comparison["steps"] == [0, 10, 20, 29] and len(comparison["layers"]) == 4
    assert comparison["layers"][0]["names"] == ["0", "hidden.0"]
    assert comparison["spec_differences"] == {}
    grad = comparison["metrics"]["grad_norm"]
    assert all(value is not None and value > 0 for run in grad for row in run for value in row)
    assert [run["source"] for run in comparison["runs"]] == ["import", "service"]


def test_a_malformed_import_is_422(api):
    client, headers = api
    body = train_in_a_plain_loop()
    body["profile"]["metrics"]["grad_norm"] = body["profile"]["metrics"]["grad_norm"][:2]
    response = client.post("/api/v1/imports", json=body, headers=headers)
    assert response.status_code == 422 and "grad_norm must be 4 rows" in str(response.get_json())
    no_spec = {**train_in_a_plain_loop(), "spec": None}
    stored = client.post("/api/v1/imports", json=no_spec, headers=headers).get_json()
    assert stored["spec"]["model"]["arch"] == "custom" and stored["spec"]["model"]["depth"] == 3


def test_the_readme_example_runs_and_imports(api, monkeypatch):
    """The README's own-loop example, exactly as written, against this API."""
    import re
    import sys
    import types

    from tests.support import ROOT

    client, headers = api
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"### Your own model, your own loop.*?```python\n(.*?)```", readme, re.S).group(1)
    posted = []

    def post(url, json, headers):  # type: ignore[no-untyped-def]
        response = client.post(url.removeprefix("http://127.0.0.1:8000"), json=json, headers=headers)
        posted.append(response)
        return types.SimpleNamespace(status_code=response.status_code, json=response.get_json)

    monkeypatch.setitem(sys.modules, "requests", types.SimpleNamespace(post=post))
    monkeypatch.setenv("GRADATLAS_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("GRADATLAS_TOKEN", headers["Authorization"].removeprefix("Bearer "))
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert posted and posted[0].status_code == 201, posted[0].get_json()
    found = client.get("/api/v1/experiments?filter=source = 'import' AND tags CONTAINS 'lecture'", headers=headers).get_json()
    assert [item["name"] for item in found["items"]] == ["digits-own-loop"]
