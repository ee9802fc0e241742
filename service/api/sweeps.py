"""/api/v1/sweeps: create (202), read with counts and table, list, CSV table."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, jsonify, request, url_for
from gradatlas.service.api.auth import principal
from gradatlas.service.api.context import services
from gradatlas.service.api.declare import CSV, declare
from gradatlas.service.api.requests import json_body, limit_arg, requested_format
from gradatlas.service.api.schemas import FormatQuery, PageQuery, SweepList
from gradatlas.service.contracts.errors import NotFound, require_object
from gradatlas.service.jobs.sweeps import Sweep, SweepRequest, SweepRowOut, create_sweep, get_sweep, list_sweeps
from gradatlas.service.search.list_pages import decode_key, encode_key
from gradatlas.service.store.columns import SUMMARY_COLUMNS

blueprint = Blueprint("sweeps", __name__, url_prefix="/api/v1")

@blueprint.post("/sweeps")
@declare("Create a sweep: one experiment per point", "createSweep", {202: (Sweep, "accepted; points queued")},
         errors=(400, 401, 413, 415, 422), json=SweepRequest)
def post_sweep() -> tuple[Response, int, dict[str, str]]:
    s = services()
    sweep = create_sweep(require_object(json_body(), "the sweep"), principal().name, s.store, s.enqueue, s.settings)
    return jsonify(sweep.model_dump(mode="json")), 202, {"Location": url_for("sweeps.read_sweep", sweep_id=sweep.id)}


def _found(sweep_id: str) -> Sweep:
    sweep = get_sweep(services().store, sweep_id)
    if sweep is None:
        raise NotFound(f"no sweep {sweep_id!r}")
    return sweep


@blueprint.get("/sweeps/<sweep_id>")
@declare("A sweep with counts by status and its table", "getSweep", {200: (Sweep, "the sweep")}, errors=(401, 404))
def read_sweep(sweep_id: str) -> Response:
    return jsonify(_found(sweep_id).model_dump(mode="json"))


@blueprint.get("/sweeps")
@declare("List sweeps, newest first", "listSweeps", {200: (SweepList, "a page of sweeps, without their tables")},
         errors=(401, 422), query=PageQuery)
def read_sweeps() -> Response:
    pepper = services().settings.resolved_pepper()
    after = decode_key("sweeps", request.args.get("page_token"), pepper)
    sweeps, next_key = list_sweeps(services().store, limit_arg(), after)
    return jsonify({"items": [sweep.model_dump(mode="json") for sweep in sweeps],
                    "next_page_token": encode_key("sweeps", next_key, pepper)})


@blueprint.get("/sweeps/<sweep_id>/table")
@declare("The sweep's table (JSON rows, or CSV)", "getSweepTable", {200: (list[SweepRowOut], "one row per point")},
         errors=(401, 404, 422), query=FormatQuery, media={200: CSV})
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
