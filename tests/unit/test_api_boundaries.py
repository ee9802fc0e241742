"""The HTTP layer's boundaries: domain code raises domain errors and one table
turns each into its status; pages call the service functions, not the API
(no rate-limit hit, the page's own request id); one guard authenticates; the
blueprints share one public module of request helpers."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest
from gradatlas.service.api import create_app
from gradatlas.service.api.errors import STATUS, status_of
from gradatlas.service.contracts import errors
from gradatlas.service.contracts.errors import DomainError

from tests.profiles import finished_experiment
from tests.support import ROOT

# The contract (docs/api.md): each domain error's status and error code.
CONTRACT: dict[type[DomainError], tuple[int, str]] = {
    errors.InvalidInput: (422, "validation_error"), errors.QuotaExceeded: (422, "quota_exceeded"),
    errors.NotFound: (404, "not_found"), errors.Conflict: (409, "conflict"),
    errors.Unauthenticated: (401, "unauthorized"), errors.Forbidden: (403, "forbidden"),
    errors.RateLimited: (429, "rate_limited"), errors.Unavailable: (503, "unavailable"),
}
DOMAIN_PACKAGES = ("contracts", "science", "store", "search", "jobs", "auth", "reports")


@pytest.fixture
def app(settings, store):  # type: ignore[no-untyped-def]
    return create_app(settings, store=store, enqueue=lambda *_: None)


def _subclasses(kind: type) -> set[type]:
    direct = set(kind.__subclasses__())
    return direct.union(*(_subclasses(sub) for sub in direct))


def _sign_in(app: Any, name: str) -> Any:
    _, token = app.extensions["gradatlas"].tokens.create(name)
    client = app.test_client()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"token": token, "csrf_token": csrf}).status_code == 302
    return client


def test_every_domain_error_type_maps_to_its_status_and_code():
    import gradatlas.service.search.query  # noqa: F401  (defines QuerySyntaxError, an InvalidInput)

    declared = {kind for kind in _subclasses(DomainError) if kind.__module__ == errors.__name__}
    assert declared == set(CONTRACT) == set(STATUS)
    for kind, (status, code) in CONTRACT.items():
        assert status_of(kind("x")) == status and kind.code == code, kind
    for kind in _subclasses(DomainError) - declared:  # raised elsewhere: must inherit a status, never fall to 500
        assert any(base in STATUS for base in kind.__mro__), kind


def test_each_domain_error_leaves_in_the_one_error_shape(app):
    def raise_named(name: str) -> None:
        kind = next(kind for kind in CONTRACT if kind.__name__ == name)
        raise kind("what went wrong", [{"loc": ["query", "x"], "msg": "bad"}], retry_after=7)

    app.add_url_rule("/raise/<name>", view_func=raise_named)
    client = app.test_client()
    for kind, (status, code) in CONTRACT.items():
        response = client.get(f"/raise/{kind.__name__}", headers={"X-Request-Id": "req-1"})
        assert response.status_code == status and response.headers["Retry-After"] == "7", kind
        assert response.data == (b'{"error":{"code":"' + code.encode() + b'","message":"what went wrong",'
                                 b'"details":[{"loc":["query","x"],"msg":"bad"}]},"request_id":"req-1"}\n'), kind


def test_domain_code_raises_no_http_errors():
    """The domain packages import neither Flask nor Werkzeug: their errors are domain errors."""
    for package in DOMAIN_PACKAGES:
        for path in (ROOT / "service" / package).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                assert not [n for n in names if n.split(".")[0] in ("flask", "werkzeug")], f"{path} imports {names}"


def test_no_api_or_web_module_imports_another_modules_private_names():
    for path in [*(ROOT / "service" / "api").glob("*.py"), *(ROOT / "service" / "web").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gradatlas."):
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def test_one_guard_authenticates_every_api_route(app):
    assert not any(app.before_request_funcs.get(name) for name in app.blueprints)
    client = app.test_client()
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")]
    assert len(rules) >= 10
    for rule in rules:
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        response = client.open(path, method=method)
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized", rule


def test_pages_do_not_spend_the_tokens_api_rate_limit(settings, store):
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 3}), store=store, enqueue=lambda *_: None)
    experiment = finished_experiment(store)
    browser = _sign_in(app, "alice")
    for _ in range(4):
        history = browser.get("/experiments")
        assert history.status_code == 200 and experiment.id in history.text and "filter-error" not in history.text
        assert browser.get(f"/experiments/{experiment.id}").status_code == 200
        assert browser.get(f"/ui/api/experiments/{experiment.id}").get_json()["id"] == experiment.id
    _, token = app.extensions["gradatlas"].tokens.create("carol")
    bearer = {"Authorization": f"Bearer {token}"}
    assert [app.test_client().get("/api/v1/experiments", headers=bearer).status_code for _ in range(4)] == [200] * 3 + [429]


def test_the_data_window_answers_under_the_pages_request_id(app, store):
    browser = _sign_in(app, "alice")
    missing = browser.get("/ui/api/experiments/nope", headers={"X-Request-Id": "page-42"})
    assert missing.status_code == 404 and missing.headers["X-Request-Id"] == "page-42"
    assert missing.get_json() == {"error": {"code": "not_found", "message": "no experiment 'nope'", "details": []},
                                  "request_id": "page-42"}
    assert browser.get("/ui/api/tokens").status_code == 403  # the window is the signed-in user's, not more
    page = browser.get("/experiments/nope")
    assert page.status_code == 404 and "no experiment &#39;nope&#39;" in page.text


def test_the_cancel_button_keeps_the_ownership_rule(app, store):
    from gradatlas.service.contracts.spec import ExperimentSpec

    spec = ExperimentSpec.model_validate({"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}})
    queued = store.create_experiment(spec, owner="alice", queue="cpu")
    for name, status in (("bob", "queued"), ("alice", "cancelled")):
        browser = _sign_in(app, name)
        page = browser.get(f"/experiments/{queued.id}").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = browser.post(f"/experiments/{queued.id}/cancel", data={"csrf_token": csrf})
        assert response.status_code == 302 and store.get_experiment(queued.id).status == status, name


def test_over_the_quota_is_422_quota_exceeded_alone_and_in_a_sweep(settings, store):
    app = create_app(settings.model_copy(update={"max_steps": 50}), store=store, enqueue=lambda *_: None)
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    client, bearer = app.test_client(), {"Authorization": f"Bearer {token}"}
    base = {"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}, "training": {"steps": 80}}
    alone = client.post("/api/v1/experiments", json=base, headers=bearer)
    assert alone.status_code == 422
    error = alone.get_json()["error"]
    assert error["code"] == "quota_exceeded" and error["message"].startswith("the experiment exceeds the quota: steps 80")
    assert error["details"][0]["loc"] == ["training", "steps"]
    sweep = client.post("/api/v1/sweeps", json={"base": base, "grid": {"model.depth": [2, 3]}}, headers=bearer)
    error = sweep.get_json()["error"]
    assert sweep.status_code == 422 and error["code"] == "quota_exceeded"
    assert error["message"].startswith("point 0 (model.depth=2) is not valid: the experiment exceeds the quota")
    assert error["details"][0]["loc"] == ["points", 0, "training", "steps"]
    assert client.get("/api/v1/experiments", headers=bearer).get_json()["items"] == []  # nothing stored


SPEC = {"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}}


@pytest.mark.parametrize(("path", "body", "loc"), [
    ("/api/v1/experiments", {**SPEC, "seed": False}, ["seed"]),
    ("/api/v1/experiments", {**SPEC, "model": {**SPEC["model"], "depth": "2"}}, ["model", "depth"]),
    ("/api/v1/tokens", {"name": "bob", "admin": 0}, ["admin"]),
    ("/api/v1/sweeps", {"base": SPEC, "seeds": [False]}, ["seeds", 0]),
])
def test_json_types_are_not_coerced(app, path, body, loc):  # type: ignore[no-untyped-def]
    """The OpenAPI document says integer or boolean: a value of another JSON
    type is 422 naming the field, never quietly converted (Schemathesis found
    `false` stored as seed 0 and `0` as admin false)."""
    _, token = app.extensions["gradatlas"].tokens.create("admin", is_admin=True)
    response = app.test_client().post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422, response.get_json()
    assert [detail["loc"] for detail in response.get_json()["error"]["details"]] == [loc]


def test_well_typed_values_still_pass(app):  # type: ignore[no-untyped-def]
    _, token = app.extensions["gradatlas"].tokens.create("admin", is_admin=True)
    body = {**SPEC, "seed": 3, "training": {"lr": 1}}  # an integer where a number is asked is a number
    response = app.test_client().post("/api/v1/experiments", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["spec"]["training"]["lr"] == 1.0
