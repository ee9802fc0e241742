"""/api/v1/sweeps: create (202), read with counts and table, list, CSV table."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, jsonify, request, url_for
from gradatlas.service.api import services
from gradatlas.service.api.auth import authenticate, principal
from gradatlas.service.api.experiments import _limit, json_body, requested_format
from gradatlas.service.contracts.errors import ApiError, require_object
from gradatlas.service.jobs.sweeps import Sweep, create_sweep, get_sweep, list_sweeps
from gradatlas.service.store.columns import SUMMARY_COLUMNS

blueprint = Blueprint("sweeps", __name__, url_prefix="/api/v1")
blueprint.before_request(authenticate)

@blueprint.post("/sweeps")
def post_sweep() -> tuple[Response, int, dict[str, str]]:
    s = services()
    sweep = create_sweep(require_object(json_body(), "the sweep"), principal().name, s.store, s.enqueue, s.settings)
    return jsonify(sweep.model_dump(mode="json")), 202, {"Location": url_for("sweeps.read_sweep", sweep_id=sweep.id)}


def _found(sweep_id: str) -> Sweep:
    sweep = get_sweep(services().store, sweep_id)
    if sweep is None:
        raise ApiError(404, f"no sweep {sweep_id!r}")
    return sweep


@blueprint.get("/sweeps/<sweep_id>")
def read_sweep(sweep_id: str) -> Response:
    return jsonify(_found(sweep_id).model_dump(mode="json"))


@blueprint.get("/sweeps")
def read_sweeps() -> Response:
    sweeps = list_sweeps(services().store, _limit(request.args.get("limit", "50")))
    return jsonify({"items": [sweep.model_dump(mode="json") for sweep in sweeps]})


@blueprint.get("/sweeps/<sweep_id>/table")
def sweep_table(sweep_id: str) -> Response:
    sweep = _found(sweep_id)
    fmt = requested_format()
    rows = sweep.table or []
    if fmt == "json":
        return jsonify([row.model_dump(mode="json") for row in rows])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["index", *sweep.axes, "experiment_id", "status", *SUMMARY_COLUMNS])
    for row in rows:
        summary = row.summary or {}
        writer.writerow([row.index, *(_cell(row.values.get(axis)) for axis in sweep.axes), row.experiment_id, row.status,
                         *(_cell(summary.get(key)) for key in SUMMARY_COLUMNS)])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=sweep-{sweep.id}.csv"})


def _cell(value: object) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)
