"""/api/v1/experiments: submit, read, list, profile, cancel. Views parse,
call the store or a service function, and serialise; nothing more."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from gradatlas.service.api import services
from gradatlas.service.api.auth import principal, require_owner
from gradatlas.service.contracts import profile_codec
from gradatlas.service.contracts.errors import ApiError
from gradatlas.service.contracts.resources import Experiment
from gradatlas.service.jobs.submit import submit
from gradatlas.service.search.history import query_experiments
from gradatlas.service.search.query import QuerySyntaxError
from gradatlas.service.store.gateway import Conflict

blueprint = Blueprint("experiments", __name__, url_prefix="/api/v1")  # guarded app-wide by auth.guard_api

MAX_LIMIT = 200


def json_body() -> Any:
    if not request.mimetype or request.mimetype != "application/json":
        raise ApiError(415, f"send the body as application/json, not {request.mimetype or 'nothing'}")
    raw = request.get_data(cache=False)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from exc


def _found(experiment_id: str) -> Experiment:
    experiment = services().store.get_experiment(experiment_id)
    if experiment is None:
        raise ApiError(404, f"no experiment {experiment_id!r}")
    return experiment


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


@blueprint.post("/experiments")
def create_experiment() -> tuple[Response, int, dict[str, str]]:
    s = services()
    experiment = submit(json_body(), principal().name, s.store, s.enqueue, s.settings)
    location = url_for("experiments.get_experiment", experiment_id=experiment.id)
    return jsonify(_dump(experiment)), 202, {"Location": location}


@blueprint.get("/experiments/<experiment_id>")
def get_experiment(experiment_id: str) -> Response:
    return jsonify(_dump(_found(experiment_id)))


@blueprint.get("/experiments")
def list_experiments() -> Response:
    """History: `filter` and `order_by` in the query language of service.query."""
    limit = _limit(request.args.get("limit", "50"))
    args = {name: request.args.get(name, "") for name in ("filter", "order_by")}
    try:
        s = services()
        page = query_experiments(s.store, args["filter"], args["order_by"], limit,
                                 request.args.get("page_token") or None, pepper=s.settings.resolved_pepper())
    except QuerySyntaxError as exc:
        raise query_error(exc) from exc
    except ValueError as exc:
        raise ApiError(422, str(exc), [{"loc": ["query", "page_token"], "msg": str(exc)}]) from exc
    return jsonify(_dump(page))


def query_error(exc: QuerySyntaxError) -> ApiError:
    """422 with where the query failed and what was expected there."""
    return ApiError(422, f"{exc.source} is not valid {exc}", [{"loc": ["query", exc.source], "msg": str(exc),
                                                              "position": exc.position, "expected": exc.expected}])


def requested_format() -> str:
    """`?format=json|csv` (json by default); anything else is 422."""
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(422, "format must be json or csv", [{"loc": ["query", "format"], "msg": f"got {fmt!r}"}])
    return fmt


def _limit(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(422, f"limit must be an integer from 1 to {MAX_LIMIT}",
                       [{"loc": ["query", "limit"], "msg": f"expected 1 to {MAX_LIMIT}, got {raw!r}"}])
    return int(raw)


@blueprint.get("/experiments/<experiment_id>/profile")
def get_profile(experiment_id: str) -> Response:
    experiment = _found(experiment_id)
    if requested_format() == "csv":
        return _profile_csv(experiment)
    profile = services().store.get_profile(experiment_id)
    if profile is None:
        raise ApiError(404, f"experiment {experiment_id} has no profile (status {experiment.status})")
    return jsonify(_dump(profile))


def _profile_csv(experiment: Experiment) -> Response:
    """Long rows `step,layer,metric,value`; the loss has an empty layer."""
    found = services().store.get_profile_arrays(experiment.id)
    if found is None:
        raise ApiError(404, f"experiment {experiment.id} has no profile (status {experiment.status})")
    _, _, arrays = found
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", "layer", "metric", "value"])
    steps = arrays["steps"].tolist()
    for name in ("loss", "accuracy"):
        for step, value in zip(steps, arrays.get(name, []).tolist(), strict=False):
            writer.writerow([step, "", name, profile_codec.csv_number(value)])
    for name, values in sorted(arrays.items()):
        if name.startswith("metric."):
            for step, row in zip(steps, values.tolist(), strict=True):
                for layer, value in enumerate(row):
                    writer.writerow([step, layer, name.removeprefix("metric."), profile_codec.csv_number(value)])
    filename = f"{experiment.id}-profile.csv"
    return Response(out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f"attachment; filename={filename}"})


@blueprint.post("/experiments/<experiment_id>/cancel")
def cancel_experiment(experiment_id: str) -> Response:
    require_owner(_found(experiment_id))
    try:
        experiment = services().store.request_cancel(experiment_id)
    except Conflict as exc:
        raise ApiError(409, f"cannot cancel: {exc}") from exc
    if experiment is None:
        raise ApiError(404, f"no experiment {experiment_id!r}")
    return jsonify(_dump(experiment))
