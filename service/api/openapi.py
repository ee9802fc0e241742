"""GET /api/openapi.json and /api/docs. The document is spectree's, generated
from the declarations on the routes (api/declare.py) and Flask's url_map: a
route without a declaration is missing from it, and tests/unit/test_openapi.py
fails on that. The document describes its own two routes too. Added here: what declare.py keeps beside spectree's
declarations (non-JSON media, one path per fixed parameter value)."""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, Response, jsonify
from gradatlas.service.api.declare import EXTRAS, api_spec, declare
from pydantic import BaseModel

# Not named openapi*: spectree leaves such endpoints out, and these two are documented like any route.
blueprint = Blueprint("api_document", __name__)

BINARY = {"type": "string", "format": "binary"}


def openapi_document() -> dict[str, Any]:
    """The document of the current app's routes (spectree caches it per process)."""
    document = copy.deepcopy(api_spec.spec)
    paths: dict[str, Any] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for variant_path, variant in _variants(path, operation):
                paths.setdefault(variant_path, {})[method] = variant
    document["paths"] = paths
    return document


def _variants(path: str, operation: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The operation with its extra media; one copy per value of a parameter
    declared with variants, with that value in the path and its media type."""
    extras = EXTRAS.get(operation["operationId"])
    if extras is None:
        return [(path, operation)]
    for status, media in extras.media.items():
        operation["responses"][str(status)].setdefault("content", {}).update(media)
    if extras.variants is None:
        return [(path, operation)]
    name, media_types = extras.variants
    return [(path.replace(f"{{{name}}}", value), _variant(operation, name, value, media_type))
            for value, media_type in media_types.items()]


def _variant(operation: dict[str, Any], name: str, value: str, media_type: str) -> dict[str, Any]:
    variant = copy.deepcopy(operation)
    variant["operationId"] += value.capitalize()
    variant["summary"] += f" ({value.upper()})"
    variant["parameters"] = [p for p in variant["parameters"] if not (p["in"] == "path" and p["name"] == name)]
    variant["responses"]["200"]["content"] = {media_type: {"schema": BINARY}}
    return variant


class OpenAPIDocument(BaseModel, extra="allow"):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


@blueprint.get("/api/openapi.json")
@declare("This OpenAPI document", "getOpenAPIDocument", {200: (OpenAPIDocument, "the document")}, public=True)
def openapi_json() -> Response:
    return jsonify(openapi_document())


@blueprint.get("/api/docs")
@declare("A page listing the operations", "getAPIDocs", {200: (None, "an HTML page")}, public=True,
         media={200: {"text/html": {"schema": {"type": "string"}}}})
def docs() -> Response:
    """A plain, offline page listing the operations (no CDN scripts)."""
    rows = "".join(
        f"<tr><td><code>{method.upper()}</code></td><td><code>{path}</code></td><td>{op.get('summary', '')}</td></tr>"
        for path, ops in openapi_document()["paths"].items() for method, op in ops.items()
    )
    html = (f"<!doctype html><title>GradAtlas API</title><h1>GradAtlas API v1</h1>"
            f"<p>Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a></p>"
            f"<table border=1 cellpadding=4>{rows}</table>")
    return Response(html, mimetype="text/html")

