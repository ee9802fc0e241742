"""/api/v1/tokens: admins list, create and revoke tokens; members may not."""

from __future__ import annotations

from gradatlas.service.api import create_app


def _client(settings, store):  # type: ignore[no-untyped-def]
    app = create_app(settings, store=store, enqueue=lambda *_: None)
    tokens = app.extensions["gradatlas"].tokens
    admin = {"Authorization": f"Bearer {tokens.create('root', is_admin=True)[1]}"}
    member = {"Authorization": f"Bearer {tokens.create('alice')[1]}"}
    return app.test_client(), admin, member


def test_an_admin_creates_lists_and_revokes_tokens(settings, store):
    client, admin, _ = _client(settings, store)
    created = client.post("/api/v1/tokens", json={"name": "bob"}, headers=admin)
    assert created.status_code == 201
    body = created.get_json()
    assert body["name"] == "bob" and body["is_admin"] is False and body["token"].startswith("ga_")
    bob = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/experiments", headers=bob).status_code == 200
    listed = client.get("/api/v1/tokens", headers=admin).get_json()["items"]
    assert {"root", "alice", "bob"} == {item["name"] for item in listed} and all("token" not in item for item in listed)
    assert client.delete(f"/api/v1/tokens/{body['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/experiments", headers=bob).status_code == 401
    assert client.delete(f"/api/v1/tokens/{body['id']}", headers=admin).status_code == 404


def test_members_may_not_manage_tokens_and_bad_requests_are_422(settings, store):
    client, admin, member = _client(settings, store)
    assert client.get("/api/v1/tokens", headers=member).status_code == 403
    assert client.post("/api/v1/tokens", json={"name": "eve", "admin": True}, headers=member).status_code == 403
    bad = client.post("/api/v1/tokens", json={"name": "", "extra": 1}, headers=admin)
    assert bad.status_code == 422 and {tuple(d["loc"]) for d in bad.get_json()["error"]["details"]} >= {("name",), ("extra",)}
