"""/api/v1/experiments: submit, read, list, profile, cancel. Views parse,
call the store or a service function, and serialise; nothing more."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from gradatlas.service.api.auth import principal
from gradatlas.service.api.context import services
from gradatlas.service.api.declare import CSV, declare
from gradatlas.service.api.requests import found_experiment, json_body, limit_arg, requested_format
from gradatlas.service.api.schemas import ExperimentQuery, FormatQuery
from gradatlas.service.contracts import profile_codec
from gradatlas.service.contracts.errors import NotFound
from gradatlas.service.contracts.resources import Experiment, ExperimentPage, Profile
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.jobs.cancel import cancel
from gradatlas.service.jobs.submit import submit
from gradatlas.service.search.history import query_experiments

blueprint = Blueprint("experiments", __name__, url_prefix="/api/v1")


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


@blueprint.post("/experiments")
@declare("Submit an experiment", "createExperiment", {202: (Experiment, "accepted, queued")},
         errors=(400, 401, 413, 415, 422, 503), json=ExperimentSpec)
def create_experiment() -> tuple[Response, int, dict[str, str]]:
    s = services()
    experiment = submit(json_body(), principal().name, s.store, s.enqueue, s.settings)
    location = url_for("experiments.get_experiment", experiment_id=experiment.id)
    return jsonify(_dump(experiment)), 202, {"Location": location}


@blueprint.get("/experiments/<experiment_id>")
@declare("One experiment", "getExperiment", {200: (Experiment, "the experiment")}, errors=(401, 404, 503))
def get_experiment(experiment_id: str) -> Response:
    return jsonify(_dump(found_experiment(experiment_id)))


@blueprint.get("/experiments")
@declare("List experiments, newest first", "listExperiments", {200: (ExperimentPage, "a page")},
         errors=(401, 422, 503), query=ExperimentQuery)
def list_experiments() -> Response:
    """History: `filter` and `order_by` in the query language of service.query."""
    s = services()
    page = query_experiments(s.store, request.args.get("filter", ""), request.args.get("order_by", ""),
                             limit_arg(), request.args.get("page_token") or None, pepper=s.settings.resolved_pepper())
    return jsonify(_dump(page))


@blueprint.get("/experiments/<experiment_id>/profile")
@declare("The recorded profile (JSON, or CSV rows step,layer,metric,value)", "getProfile", {200: (Profile, "the profile")},
         errors=(401, 404, 422, 503), query=FormatQuery, media={200: CSV})
def get_profile(experiment_id: str) -> Response:
    experiment = found_experiment(experiment_id)
    if requested_format() == "csv":
        return _profile_csv(experiment)
    profile = services().store.get_profile(experiment_id)
    if profile is None:
        raise NotFound(f"experiment {experiment_id} has no profile (status {experiment.status})")
    return jsonify(_dump(profile))


def _profile_csv(experiment: Experiment) -> Response:
    """Long rows `step,layer,metric,value`; the loss has an empty layer."""
    found = services().store.get_profile_arrays(experiment.id)
    if found is None:
        raise NotFound(f"experiment {experiment.id} has no profile (status {experiment.status})")
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
@declare("Cancel a queued or running experiment (idempotent)", "cancelExperiment",
         {200: (Experiment, "cancelled, or flagged for the worker")}, errors=(401, 403, 404, 409, 503))
def cancel_experiment(experiment_id: str) -> Response:
    return jsonify(_dump(cancel(services().store, found_experiment(experiment_id), principal())))
