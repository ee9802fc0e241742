"""PATCH name/tags/notes and DELETE (owner or admin), as a user sees them:
the change shows in the resource and in history queries, a delete takes the
profile with it."""

from __future__ import annotations

import numpy as np
import pytest
from gradatlas.service.api import create_app
from gradatlas.service.store.tables import ExperimentTagRow, ProfileArrayRow
from sqlalchemy import func, select

SPEC = {"name": "tiny", "tags": ["old"], "model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"},
        "training": {"steps": 1}}


@pytest.fixture
def app(settings, store):  # type: ignore[no-untyped-def]
    return create_app(settings, store=store, enqueue=lambda *_: None)


def _headers(app, name: str, admin: bool = False) -> dict[str, str]:  # type: ignore[no-untyped-def]
    _, token = app.extensions["gradatlas"].tokens.create(name, is_admin=admin)
    return {"Authorization": f"Bearer {token}"}


def _make(client, headers) -> str:  # type: ignore[no-untyped-def]
    return client.post("/api/v1/experiments", json=SPEC, headers=headers).get_json()["id"]  # type: ignore[no-any-return]


def test_patch_changes_name_tags_notes_and_history_sees_it(app):
    client, alice = app.test_client(), _headers(app, "alice")
    experiment_id = _make(client, alice)
    response = client.patch(f"/api/v1/experiments/{experiment_id}", json={"name": "renamed", "tags": ["lecture", "x"]}, headers=alice)
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "renamed" and body["tags"] == ["lecture", "x"] and body["notes"] == ""
    assert client.patch(f"/api/v1/experiments/{experiment_id}", json={"notes": "why"}, headers=alice).get_json()["notes"] == "why"
    found = client.get("/api/v1/experiments?filter=tags CONTAINS 'lecture' AND name = 'renamed'", headers=alice).get_json()["items"]
    assert [item["id"] for item in found] == [experiment_id]
    assert client.get("/api/v1/experiments?filter=tags CONTAINS 'old'", headers=alice).get_json()["items"] == []


@pytest.mark.parametrize("body, status", [({"status": "succeeded"}, 422), ({"tags": [""]}, 422), ({"name": 3}, 422), ([1], 422)])
def test_patch_rejects_other_fields_and_bad_values(app, body, status):
    client, alice = app.test_client(), _headers(app, "alice")
    experiment_id = _make(client, alice)
    response = client.patch(f"/api/v1/experiments/{experiment_id}", json=body, headers=alice)
    assert response.status_code == status and response.get_json()["error"]["code"] == "validation_error"
    assert client.get(f"/api/v1/experiments/{experiment_id}", headers=alice).get_json()["status"] == "queued"


def test_only_the_owner_or_an_admin_may_edit_or_delete(app):
    client, alice, mallory, root = app.test_client(), _headers(app, "alice"), _headers(app, "mallory"), _headers(app, "root", True)
    experiment_id = _make(client, alice)
    assert client.patch(f"/api/v1/experiments/{experiment_id}", json={"name": "x"}, headers=mallory).status_code == 403
    assert client.delete(f"/api/v1/experiments/{experiment_id}", headers=mallory).status_code == 403
    assert client.patch(f"/api/v1/experiments/{experiment_id}", json={"name": "by-admin"}, headers=root).status_code == 200
    assert client.delete(f"/api/v1/experiments/{experiment_id}", headers=root).status_code == 204
    assert client.get(f"/api/v1/experiments/{experiment_id}", headers=alice).status_code == 404
    assert client.delete(f"/api/v1/experiments/{experiment_id}", headers=alice).status_code == 404


def test_delete_takes_the_profile_and_tags_and_refuses_a_running_one(app, store):
    client, alice = app.test_client(), _headers(app, "alice")
    experiment_id = _make(client, alice)
    claim = store.claim(experiment_id, {})
    assert client.delete(f"/api/v1/experiments/{experiment_id}", headers=alice).status_code == 409
    profile = {"layers": [{"index": 0, "name": "l", "kind": "linear", "shape": [4, 4]}], "steps": [0], "loss": [1.0],
               "accuracy": [0.5], "metrics": {"grad_norm": np.ones((1, 1))}, "total_steps": 1}
    assert store.complete(claim, profile, {"verdict": "healthy"}, {})
    assert client.delete(f"/api/v1/experiments/{experiment_id}", headers=alice).status_code == 204
    with store.session() as session:
        left = [session.scalar(select(func.count()).select_from(t).where(t.experiment_id == experiment_id))
                for t in (ProfileArrayRow, ExperimentTagRow)]
    assert left == [0, 0]
    assert client.get(f"/api/v1/experiments/{experiment_id}/profile", headers=alice).status_code == 404
