"""POST /api/v1/imports: 201 with the stored experiment."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for
from gradatlas.service.api.auth import principal
from gradatlas.service.api.context import services
from gradatlas.service.api.declare import declare
from gradatlas.service.api.requests import json_body
from gradatlas.service.contracts.resources import Experiment
from gradatlas.service.jobs.imports import ImportBody, import_profile

blueprint = Blueprint("imports", __name__, url_prefix="/api/v1")


@blueprint.post("/imports")
@declare("Store a profile recorded by GradientProbe in your own loop (source: import)", "importProfile",
         {201: (Experiment, "stored")}, errors=(400, 401, 413, 415, 422), json=ImportBody)
def post_import() -> tuple[Response, int, dict[str, str]]:
    experiment = import_profile(json_body(), principal().name, services().store)
    location = url_for("experiments.get_experiment", experiment_id=experiment.id)
    return jsonify(experiment.model_dump(mode="json")), 201, {"Location": location}
