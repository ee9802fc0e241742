"""The OpenAPI document generated from the route declarations: every route
under /api/ is in it, and it says at least what the hand-written document
said (tests/unit/openapi_before.json, saved from the code before the change)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from gradatlas.service.api import create_app
from gradatlas.service.api.declare import EXTRAS, api_spec

BEFORE = json.loads((Path(__file__).with_name("openapi_before.json")).read_text())
COMPARED = ("operationId", "parameters", "requestBody", "responses", "security")  # the summary is prose: reworded freely
# What the hand-written document said wrongly, each with why: the only narrowings allowed.
CORRECTED = {
    "POST /api/v1/sweeps/requestBody/content/application/json/schema/properties/base/additionalProperties":
        "a sweep's base is an experiment spec: a key ExperimentSpec does not know was always answered 422",
    "SweepRequest/properties/base/additionalProperties": "the same, in the named schema",
}


@pytest.fixture
def app(settings, store):  # type: ignore[no-untyped-def]
    return create_app(settings, store=store, enqueue=lambda *_: None)


@pytest.fixture
def document(app: Flask) -> dict[str, Any]:
    return app.test_client().get("/api/openapi.json").get_json()  # type: ignore[no-any-return]


def resolved(node: Any, document: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """`node` with every $ref replaced by its schema (a recursive one left as a $ref)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None and ref not in seen:
            return resolved(document["components"]["schemas"][ref.rsplit("/", 1)[1]], document, (*seen, ref))
        return {key: resolved(value, document, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(value, document, seen) for value in node]
    return node


def lost(old: Any, new: Any, where: str = "") -> list[str]:
    """What `old` says that `new` does not: a key missing, a value different,
    a description emptied. `new` may say more."""
    if isinstance(old, dict) and isinstance(new, dict):
        missing = []
        for key, value in old.items():
            if key not in new:
                missing.append(f"{where}/{key} is gone")
            elif key == "description" and isinstance(value, str):
                missing += [] if new[key] or not value else [f"{where}/description is empty"]
            else:
                missing += lost(value, new[key], f"{where}/{key}")
        return missing
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):  # anyOf, allOf: each may say more
        return [line for index, (was, now) in enumerate(zip(old, new, strict=True)) for line in lost(was, now, f"{where}/{index}")]
    if where in CORRECTED:
        return []
    return [] if old == new else [f"{where}: {old!r} became {new!r}"]


def operation_lost(old_document: dict[str, Any], new_document: dict[str, Any]) -> list[str]:
    """Every path, method, parameter, request body and response (status, media
    type, resolved schema) of the old document, looked up in the new one."""
    missing = []
    for path, operations in old_document["paths"].items():
        for method, old in operations.items():
            new = new_document["paths"].get(path, {}).get(method)
            if new is None:
                missing.append(f"{method.upper()} {path} is gone")
                continue
            old_view, new_view = (_comparable(op, doc) for op, doc in ((old, old_document), (new, new_document)))
            missing += lost(old_view, new_view, f"{method.upper()} {path}")
    return missing


def _comparable(operation: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    view = {key: operation[key] for key in COMPARED if key in operation}
    view["parameters"] = {f"{p['in']} {p['name']}": p for p in operation.get("parameters", [])}
    return resolved(view, document)  # type: ignore[no-any-return]


def undocumented_routes(app: Flask, document: dict[str, Any]) -> list[str]:
    """Each Flask route under /api/ (methods and path) absent from the document,
    the document's own two routes included."""
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        template = re.sub(r"<(?:[^>:]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths = _documented_paths(app.view_functions[rule.endpoint], template)
            missing += [f"{method} {path}" for path in paths if method.lower() not in document["paths"].get(path, {})]
    return missing


def _documented_paths(view: Any, template: str) -> list[str]:
    """The template, or one path per value where the route declares variants."""
    metadata = api_spec.get_function_metadata(view)
    variants = EXTRAS[metadata.operation_id].variants if metadata and metadata.operation_id in EXTRAS else None
    if variants is None:
        return [template]
    name, values = variants
    return [template.replace(f"{{{name}}}", value) for value in values]


def test_the_generated_document_says_everything_the_hand_written_one_said(document):  # type: ignore[no-untyped-def]
    assert operation_lost(BEFORE, document) == []
    assert document["security"] == BEFORE["security"]
    assert document["components"]["securitySchemes"] == BEFORE["components"]["securitySchemes"]
    for name, schema in BEFORE["components"]["schemas"].items():  # clients generate code from these names
        assert lost(schema, document["components"]["schemas"].get(name, {}), name) == []


def test_a_lost_parameter_response_or_path_is_noticed(document):  # type: ignore[no-untyped-def]
    poorer = copy.deepcopy(document)
    listing = poorer["paths"]["/api/v1/experiments"]["get"]
    listing["parameters"] = [p for p in listing["parameters"] if p["name"] != "filter"]
    del poorer["paths"]["/api/v1/experiments/{experiment_id}/profile"]["get"]["responses"]["200"]["content"]["text/csv"]
    del poorer["paths"]["/api/v1/tokens/{token_id}"]
    poorer["components"]["schemas"]["ModelSpec"]["required"].remove("depth")
    assert sorted(operation_lost(BEFORE, poorer)) == sorted([
        "GET /api/v1/experiments/parameters/query filter is gone",
        "GET /api/v1/experiments/{experiment_id}/profile/responses/200/content/text/csv is gone",
        "DELETE /api/v1/tokens/{token_id} is gone",
        "POST /api/v1/experiments/requestBody/content/application/json/schema/properties/model/required: "
        "['arch', 'depth', 'width', 'activation'] became ['arch', 'width', 'activation']",
    ])


def test_every_route_under_api_is_in_the_document(app, document):  # type: ignore[no-untyped-def]
    assert undocumented_routes(app, document) == []
    assert {"/healthz", "/readyz"} <= set(document["paths"])


def test_a_route_without_a_declaration_is_noticed(settings, store, document):  # type: ignore[no-untyped-def]
    app = create_app(settings, store=store, enqueue=lambda *_: None)  # not served yet: routes can still be added
    app.add_url_rule("/api/v1/experiments/<experiment_id>/undeclared", "undeclared", lambda experiment_id: "")
    assert undocumented_routes(app, document) == ["GET /api/v1/experiments/{experiment_id}/undeclared"]


def test_plot_formats_are_paths_of_their_own_with_their_media_type(document):  # type: ignore[no-untyped-def]
    from gradatlas.service.reports.plots import FORMATS

    for fmt, media_type in FORMATS.items():
        operation = document["paths"][f"/api/v1/experiments/{{experiment_id}}/plot.{fmt}"]["get"]
        assert list(operation["responses"]["200"]["content"]) == [media_type]
        assert [p["name"] for p in operation["parameters"] if p["in"] == "path"] == ["experiment_id"]
    assert not [path for path in document["paths"] if "{fmt}" in path]


def test_declarations_do_not_validate_the_api_keeps_its_own_422(app):  # type: ignore[no-untyped-def]
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    response = app.test_client().get("/api/v1/theory?activation=tanh&weight_var=-1",
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"]["details"] == [{"loc": ["query", "weight_var"], "msg": "expected a finite number >= 0, got '-1'"}]
    assert body["request_id"]


def test_the_docs_page_lists_every_operation(app, document):  # type: ignore[no-untyped-def]
    page = app.test_client().get("/api/docs").get_data(as_text=True)
    for path, operations in document["paths"].items():
        for method in operations:
            assert f"<code>{method.upper()}</code></td><td><code>{path}</code>" in page


def _answers(app: Flask, headers: dict[str, str]) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    client = app.test_client()
    responses = [client.get("/healthz", headers=headers), client.get("/readyz", headers=headers),
                 client.get("/api/v1/theory?activation=tanh&weight_var=2", headers=headers),
                 client.get("/api/v1/experiments", headers=headers), client.get("/api/v1/sweeps", headers=headers),
                 client.get("/api/v1/experiments?limit=0", headers=headers), client.delete("/api/v1/tokens/nope", headers=headers),
                 client.post("/api/v1/sweeps", data="[", content_type="application/json", headers=headers)]
    return [(r.status_code, sorted(r.headers.items()), r.get_data()) for r in responses]


def test_declared_views_answer_byte_for_byte_what_their_bare_functions_answer(settings, store):  # type: ignore[no-untyped-def]
    """spectree wraps each declared view and rebuilds its response: that must
    change nothing (status, headers, body) a client sees."""
    answers = []
    for bare in (False, True):
        app = create_app(settings, store=store, enqueue=lambda *_: None)
        if bare:
            unwrapped = {name: view.__wrapped__ for name, view in app.view_functions.items() if api_spec.get_function_metadata(view)}
            assert len(unwrapped) == len(EXTRAS)  # every declared view, one declaration each
            app.view_functions.update(unwrapped)
        _, token = app.extensions["gradatlas"].tokens.create("admin", is_admin=True)
        answers.append(_answers(app, {"Authorization": f"Bearer {token}", "X-Request-Id": "r1"}))
    declared, bare_answers = answers
    assert [status for status, _, _ in declared] == [200, 200, 200, 200, 200, 422, 404, 400]
    assert declared == bare_answers


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_operation_declares_the_statuses_of_its_kind_with_the_error_body(document):  # type: ignore[no-untyped-def]
    """What the token guard, the body parser and the server's limits answer is
    declared on each route they guard, so Schemathesis can hold the API to it."""
    for label, operation in _operations(document):
        authenticated = operation.get("security") != []
        wanted = {"414", "431"} | ({"401", "429", "503"} if authenticated else set())
        wanted |= {"400", "413", "415"} if "requestBody" in operation else set()
        assert wanted <= set(operation["responses"]), (label, wanted - set(operation["responses"]))
        for status in wanted:
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (label, status)


def test_the_service_routes_outside_v1_are_described(document):  # type: ignore[no-untyped-def]
    media = {path: list(document["paths"][path]["get"]["responses"]["200"]["content"])
             for path in ("/metrics", "/api/openapi.json", "/api/docs")}
    assert media == {"/metrics": ["text/plain"], "/api/openapi.json": ["application/json"], "/api/docs": ["text/html"]}
    assert all(document["paths"][path]["get"]["security"] == [] for path in media)


def test_closed_sets_are_enums_and_tag_rules_are_in_the_schema(document):  # type: ignore[no-untyped-def]
    from gradatlas.service.contracts.spec import ALL_METRICS
    from gradatlas.service.science.theory import ACTIVATIONS

    def query(path: str, name: str) -> dict[str, Any]:
        parameters = document["paths"][path]["get"]["parameters"]
        return resolved(next(p for p in parameters if p["name"] == name)["schema"], document)  # type: ignore[no-any-return]

    assert query("/api/v1/theory", "activation")["enum"] == list(ACTIVATIONS)
    assert query("/api/v1/experiments/{experiment_id}/plot.png", "metric")["enum"] == list(ALL_METRICS)
    tags = document["components"]["schemas"]["ExperimentSpec"]["properties"]["tags"]
    assert (tags["maxItems"], tags["items"]["minLength"], tags["items"]["maxLength"]) == (32, 1, 64)


def test_a_sweeps_base_is_the_experiment_spec_with_nothing_required(document):  # type: ignore[no-untyped-def]
    base = document["components"]["schemas"]["SweepRequest"]["properties"]["base"]
    spec = resolved(document["components"]["schemas"]["ExperimentSpec"], document)
    assert set(base["properties"]) == set(spec["properties"]) and base["additionalProperties"] is False
    assert set(base["properties"]["model"]["properties"]) == set(spec["properties"]["model"]["properties"])
    assert "required" not in json.dumps(base)
