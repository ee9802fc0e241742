"""The OpenAPI paths and schemas of the team-history routes (query, edit, compare, sweeps, imports),
generated from the same pydantic models that validate and shape them."""

from __future__ import annotations

from typing import Any

from gradatlas.service.jobs.imports import ImportBody
from gradatlas.service.jobs.sweeps import Sweep, SweepRequest
from gradatlas.service.reports.compare import Comparison
from gradatlas.service.search.fields import field_names
from gradatlas.service.store.records import ExperimentPatch
from pydantic import BaseModel

MODELS: tuple[type[BaseModel], ...] = (ExperimentPatch, Comparison, SweepRequest, Sweep, ImportBody)
REF = "#/components/schemas/{model}"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def json_response(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(name)}}}


def error_responses(*codes: int) -> dict[str, Any]:
    return {str(code): json_response("ErrorResponse", "error") for code in codes}


def request_body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


ID = {"name": "experiment_id", "in": "path", "required": True, "schema": {"type": "string"}}
SWEEP_ID = {"name": "sweep_id", "in": "path", "required": True, "schema": {"type": "string"}}
FILTER_HELP = ("History query: `field op value` joined by AND/OR/NOT and parentheses; ops = != < <= > >= IN, NOT IN, "
               "LIKE, ILIKE, IS [NOT] NULL, tags CONTAINS 'x'. Fields: " + ", ".join(field_names()))


def list_parameters() -> list[dict[str, Any]]:
    """The query parameters GET /api/v1/experiments takes."""
    return [
        {"name": "filter", "in": "query", "description": FILTER_HELP, "schema": {"type": "string"}},
        {"name": "order_by", "in": "query", "description": "comma list of `field [asc|desc]`; NULLs last; default created_at desc",
         "schema": {"type": "string"}},
    ]


def paths() -> dict[str, Any]:
    return {
        "/api/v1/experiments/{experiment_id}": {
            "patch": {"summary": "Change name, tags or notes (owner or admin)", "operationId": "patchExperiment",
                      "parameters": [ID], "requestBody": request_body("ExperimentPatch"),
                      "responses": {"200": json_response("Experiment", "the changed experiment"),
                                    **error_responses(401, 403, 404, 415, 422)}},
            "delete": {"summary": "Delete an experiment and its profile (owner or admin)", "operationId": "deleteExperiment",
                       "parameters": [ID], "responses": {"204": {"description": "deleted"}, **error_responses(401, 403, 404, 409)}},
        },
        "/api/v1/compare": {
            "get": {"summary": "Profiles aligned by layer and step, spec differences, summaries side by side",
                    "operationId": "compareExperiments",
                    "parameters": [{"name": "ids", "in": "query", "required": True, "schema": {"type": "string"},
                                    "description": "2 to 10 comma-separated experiment ids"},
                                   {"name": "metrics", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": json_response("Comparison", "the comparison"), **error_responses(401, 404, 422)}},
        },
        "/api/v1/sweeps": {
            "post": {"summary": "Create a sweep: one experiment per point", "operationId": "createSweep",
                     "requestBody": request_body("SweepRequest"),
                     "responses": {"202": json_response("Sweep", "accepted; points queued"), **error_responses(400, 401, 415, 422)}},
            "get": {"summary": "List sweeps, newest first", "operationId": "listSweeps",
                    "responses": {"200": {"description": "{items: [Sweep]} (without tables)"}, **error_responses(401)}},
        },
        "/api/v1/sweeps/{sweep_id}": {
            "get": {"summary": "A sweep with counts by status and its table", "operationId": "getSweep",
                    "parameters": [SWEEP_ID], "responses": {"200": json_response("Sweep", "the sweep"), **error_responses(401, 404)}},
        },
        "/api/v1/sweeps/{sweep_id}/table": {
            "get": {"summary": "The sweep's table (JSON rows, or CSV)", "operationId": "getSweepTable",
                    "parameters": [SWEEP_ID, {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}}],
                    "responses": {"200": {"description": "one row per point", "content": {
                        "application/json": {"schema": {"type": "array", "items": ref("SweepRowOut")}},
                        "text/csv": {"schema": {"type": "string"}}}}, **error_responses(401, 404, 422)}},
        },
        "/api/v1/imports": {
            "post": {"summary": "Store a profile recorded by GradientProbe in your own loop (source: import)",
                     "operationId": "importProfile", "requestBody": request_body("ImportBody"),
                     "responses": {"201": json_response("Experiment", "stored"), **error_responses(400, 401, 415, 422)}},
        },
    }
