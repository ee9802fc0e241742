"""The web session as an outside security review attacked it: where a
sign-in may send the browser next, what the cookie and the sessions table
hold, replaying a cookie after logout, revocation and expiry, the Secure
flag, and the security headers. Pages in a real browser under the CSP:
tests/e2e/test_web.py."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from gradatlas.service.api import create_app
from gradatlas.service.cli.supervisor import cookie_secure_env
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.store.web_sessions import session_count
from sqlalchemy import text

from tests.profiles import finished_experiment

COOKIE = "gradatlas_session"


def make_app(settings, store, **changes):  # type: ignore[no-untyped-def]
    return create_app(settings.model_copy(update=changes), store=store, enqueue=lambda *_: None)


@pytest.fixture
def app(settings, store):  # type: ignore[no-untyped-def]
    return make_app(settings, store)


@pytest.fixture
def token(app):  # type: ignore[no-untyped-def]
    return app.extensions["gradatlas"].tokens.create("alice")


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, plaintext: str, query: str = ""):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    return client.post(f"/login{query}", data={"token": plaintext, "csrf_token": _csrf(page.text)})


def cookie_of(client) -> str:  # type: ignore[no-untyped-def]
    return client.get_cookie(COOKIE).value


@pytest.mark.parametrize("raw_next", [
    "/%09/evil.example", "//evil.example", "/%5Cevil.example", "/%5C%5Cevil.example", "https://evil.example/",
    "https:/evil.example", "javascript:alert(1)", "/%0A/evil.example", "/%252F%252Fevil.example",
    "/%2509/evil.example", "evil.example", "",
])
def test_next_that_is_not_a_local_path_goes_to_the_history_page(app, token, raw_next):
    response = sign_in(app.test_client(), token[1], f"?next={raw_next}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/experiments"


def test_next_that_is_a_local_path_is_followed(app, token):
    response = sign_in(app.test_client(), token[1], "?next=/compare%3Fids%3Da%2Cb")
    assert response.headers["Location"] == "/compare?ids=a,b"


def test_the_cookie_and_the_table_hold_no_token(app, token, store):
    info, plaintext = token
    client = app.test_client()
    client.get("/login")
    before = cookie_of(client)
    assert sign_in(client, plaintext).status_code == 302
    raw = cookie_of(client)
    assert raw != before  # a fresh id at sign-in: an id planted before it is worth nothing
    decoded = app.session_interface.get_signing_serializer(app).loads(raw)
    assert set(decoded) == {"sid"} and len(decoded["sid"]) >= 40
    secret = plaintext.split("_", 2)[2]
    assert secret not in raw and secret not in str(decoded)
    with store.session() as session:
        rows = [dict(row._mapping) for row in session.execute(text("SELECT * FROM web_sessions"))]
    assert len(rows) == 1 and rows[0]["token_id"] == info.id
    assert rows[0]["id_hash"] == hashlib.sha256(decoded["sid"].encode()).hexdigest()
    assert not any(secret in str(value) or decoded["sid"] in str(value) for value in rows[0].values())


def test_a_cookie_replayed_after_logout_signs_in_no_one(app, token, store):
    client = app.test_client()
    sign_in(client, token[1])
    page = client.get("/experiments")
    stolen = cookie_of(client)
    assert client.post("/logout", data={"csrf_token": _csrf(page.text)}).headers["Location"] == "/login"
    assert session_count(store, token[0].id) == 0
    replay = app.test_client()
    replay.set_cookie(COOKIE, stolen)
    response = replay.get("/experiments")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert replay.get("/ui/api/experiments").status_code == 302


def test_revoking_the_token_ends_every_session_of_it(app, token, store):
    info, plaintext = token
    _, other = app.extensions["gradatlas"].tokens.create("bob")
    laptop, phone, bobs = app.test_client(), app.test_client(), app.test_client()
    for client, secret in ((laptop, plaintext), (phone, plaintext), (bobs, other)):
        sign_in(client, secret)
        assert client.get("/experiments").status_code == 200
    assert session_count(store, info.id) == 2
    app.extensions["gradatlas"].tokens.revoke(info.id)
    assert session_count(store, info.id) == 0
    for client in (laptop, phone):
        assert client.get("/experiments").headers["Location"].startswith("/login")
    assert bobs.get("/experiments").status_code == 200


def test_an_expired_session_is_gone(settings, store):
    app = make_app(settings, store, session_lifetime_s=1.0)
    info, plaintext = app.extensions["gradatlas"].tokens.create("alice")
    client = app.test_client()
    sign_in(client, plaintext)
    assert client.get("/experiments").status_code == 200
    time.sleep(1.2)
    assert client.get("/experiments").headers["Location"].startswith("/login")
    assert session_count(store, info.id) == 0


@pytest.mark.parametrize("secure", [True, False])
def test_the_secure_flag_follows_the_setting(settings, store, secure):
    app = make_app(settings, store, session_cookie_secure=secure)
    _, plaintext = app.extensions["gradatlas"].tokens.create("alice")
    cookie = sign_in(app.test_client(), plaintext).headers["Set-Cookie"]
    assert ("; Secure" in cookie) is secure and "HttpOnly" in cookie


def test_the_cookie_is_secure_unless_up_binds_loopback(monkeypatch, tmp_path):
    monkeypatch.delenv("GRADATLAS_SESSION_COOKIE_SECURE", raising=False)
    assert Settings(home=tmp_path).session_cookie_secure is True
    assert cookie_secure_env("127.0.0.1", {}) == {"GRADATLAS_SESSION_COOKIE_SECURE": "false"}
    assert cookie_secure_env("::1", {}) == cookie_secure_env("localhost", {}) == cookie_secure_env("127.0.0.1", {})
    assert cookie_secure_env("0.0.0.0", {}) == {} and cookie_secure_env("10.1.2.3", {}) == {}
    assert cookie_secure_env("127.0.0.1", {"GRADATLAS_SESSION_COOKIE_SECURE": "true"}) == {}
    monkeypatch.setenv("GRADATLAS_SESSION_COOKIE_SECURE", "false")
    assert Settings(home=tmp_path).session_cookie_secure is False


def test_every_page_and_json_response_carries_the_security_headers(app, token, store):
    experiment = finished_experiment(store)
    client = app.test_client()
    responses = [client.get("/login"), client.get("/api/v1/health"), client.get("/api/docs")]
    sign_in(client, token[1])
    responses += [client.get(path) for path in ("/experiments", f"/experiments/{experiment.id}", "/submit",
                                                f"/compare?ids={experiment.id}", "/sweeps/x", "/ui/static/charts.js")]
    for response in responses:
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_run_no_inline_script(app, token, store):
    """What script-src 'self' forbids: code in a script tag or an on* attribute."""
    experiment = finished_experiment(store)
    client = app.test_client()
    pages = [client.get("/login").text]
    sign_in(client, token[1])
    pages += [client.get(path).text for path in ("/experiments", f"/experiments/{experiment.id}", "/submit",
                                                 f"/compare?ids={experiment.id}", "/sweeps/x")]
    for html in pages:
        for attributes in re.findall(r"<script([^>]*)>", html):
            assert "src=" in attributes or 'type="application/json"' in attributes, attributes
        assert not re.search(r"\son[a-z]+\s*=", html) and "javascript:" not in html
