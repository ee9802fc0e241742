"""The OpenAPI document, generated from the same pydantic models that
validate requests and shape responses, so it cannot drift from them."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, jsonify
from gradatlas.service.api import openapi_history as history_openapi
from gradatlas.service.api.openapi_history import REF
from gradatlas.service.api.openapi_history import error_responses as _errors
from gradatlas.service.api.openapi_history import json_response as _json
from gradatlas.service.api.openapi_history import ref as _ref
from gradatlas.service.contracts.resources import ErrorResponse, Experiment, ExperimentPage, NewToken, Profile, TokenList, TokenRequest
from gradatlas.service.contracts.spec import ExperimentSpec
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

blueprint = Blueprint("openapi", __name__)

MODELS: tuple[type[BaseModel], ...] = (ExperimentSpec, Experiment, ExperimentPage, Profile, ErrorResponse,
                                       TokenRequest, NewToken, TokenList, *history_openapi.MODELS)


ID_PARAM = {"name": "experiment_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _paths() -> dict[str, Any]:
    paths = _core_paths()
    for path, operations in history_openapi.paths().items():
        paths.setdefault(path, {}).update(operations)
    return paths


def _core_paths() -> dict[str, Any]:
    return {
        "/api/v1/experiments": {
            "post": {"summary": "Submit an experiment", "operationId": "createExperiment",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ExperimentSpec")}}},
                     "responses": {"202": _json("Experiment", "accepted, queued"), **_errors(400, 401, 413, 415, 422, 503)}},
            "get": {"summary": "List experiments, newest first", "operationId": "listExperiments",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                        {"name": "page_token", "in": "query", "schema": {"type": "string"}},
                        *history_openapi.list_parameters()],
                    "responses": {"200": _json("ExperimentPage", "a page"), **_errors(401, 422, 503)}},
        },
        "/api/v1/experiments/{experiment_id}": {
            "get": {"summary": "One experiment", "operationId": "getExperiment", "parameters": [ID_PARAM],
                    "responses": {"200": _json("Experiment", "the experiment"), **_errors(401, 404, 503)}},
        },
        "/api/v1/experiments/{experiment_id}/profile": {
            "get": {"summary": "The recorded profile (JSON, or CSV rows step,layer,metric,value)", "operationId": "getProfile",
                    "parameters": [ID_PARAM, {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}}],
                    "responses": {"200": {"description": "the profile", "content": {
                        "application/json": {"schema": _ref("Profile")}, "text/csv": {"schema": {"type": "string"}}}},
                        **_errors(401, 404, 422, 503)}},
        },
        "/api/v1/experiments/{experiment_id}/cancel": {
            "post": {"summary": "Cancel a queued or running experiment (idempotent)", "operationId": "cancelExperiment",
                     "parameters": [ID_PARAM],
                     "responses": {"200": _json("Experiment", "cancelled, or flagged for the worker"), **_errors(401, 403, 404, 409, 503)}},
        },
        "/api/v1/experiments/{experiment_id}/plot.png": _plot_path("png", "image/png"),
        "/api/v1/experiments/{experiment_id}/plot.svg": _plot_path("svg", "image/svg+xml"),
        "/api/v1/experiments/{experiment_id}/plot.pdf": _plot_path("pdf", "application/pdf"),
        "/api/v1/theory": {
            "get": {"summary": "Mean-field prediction: q_star, chi1, gain = √χ₁, depth_scale = −1/ln χ₁, critical_weight_var",
                    "operationId": "getTheory",
                    "parameters": [
                        {"name": "activation", "in": "query", "required": True, "schema": {"type": "string"}},
                        {"name": "weight_var", "in": "query", "required": True, "schema": {"type": "number", "exclusiveMinimum": 0}},
                        {"name": "bias_var", "in": "query", "schema": {"type": "number", "minimum": 0, "default": 0}}],
                    "responses": {"200": {"description": "the prediction"}, **_errors(401, 422)}},
        },
        "/api/v1/tokens": {
            "get": {"summary": "List tokens (admin)", "operationId": "listTokens",
                    "responses": {"200": _json("TokenList", "every token, never its plaintext"), **_errors(401, 403, 503)}},
            "post": {"summary": "Create a token (admin); its plaintext is in this response only", "operationId": "createToken",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("TokenRequest")}}},
                     "responses": {"201": _json("NewToken", "the new token"), **_errors(400, 401, 403, 415, 422, 503)}},
        },
        "/api/v1/tokens/{token_id}": {
            "delete": {"summary": "Revoke a token (admin)", "operationId": "revokeToken",
                       "parameters": [{"name": "token_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                       "responses": {"204": {"description": "revoked"}, **_errors(401, 403, 404, 503)}},
        },
        "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "alive"}}}},
        "/readyz": {"get": {"summary": "Readiness: database and broker", "security": [],
                            "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
    }


def _plot_path(fmt: str, mimetype: str) -> dict[str, Any]:
    parameters = [ID_PARAM,
                  {"name": "metric", "in": "query", "schema": {"type": "string", "default": "grad_norm"},
                   "description": "any recorded metric"},
                  {"name": "kind", "in": "query", "schema": {"type": "string", "enum": ["lines", "heatmap"], "default": "lines"},
                   "description": "lines: one line per recorded step over the layers; heatmap: layer × step of log10"}]
    return {"get": {"summary": f"A figure of one metric of the profile ({fmt.upper()}, matplotlib)",
                    "operationId": f"plotExperiment{fmt.capitalize()}", "parameters": parameters,
                    "responses": {"200": {"description": "the figure",
                                          "content": {mimetype: {"schema": {"type": "string", "format": "binary"}}}},
                                  **_errors(401, 404, 422, 503)}}}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema([(model, "validation") for model in MODELS], ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "GradAtlas API", "version": "1"},
        "paths": _paths(),
        "components": {"schemas": schemas["$defs"],
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }


@blueprint.get("/api/openapi.json")
def openapi_json() -> Response:
    return jsonify(openapi_document())


@blueprint.get("/api/docs")
def docs() -> Response:
    """A plain, offline page listing the operations (no CDN scripts)."""
    rows = "".join(
        f"<tr><td><code>{method.upper()}</code></td><td><code>{path}</code></td><td>{op.get('summary', '')}</td></tr>"
        for path, ops in _paths().items() for method, op in ops.items()
    )
    html = (f"<!doctype html><title>GradAtlas API</title><h1>GradAtlas API v1</h1>"
            f"<p>Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a></p>"
            f"<table border=1 cellpadding=4>{rows}</table>")
    return Response(html, mimetype="text/html")
