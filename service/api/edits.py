"""PATCH and DELETE of an experiment (owner or admin). A running experiment
cannot be deleted (409): its worker still holds a lease on the row."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from gradatlas.service.api.auth import principal
from gradatlas.service.api.context import services
from gradatlas.service.api.declare import declare
from gradatlas.service.api.requests import found_experiment, json_body
from gradatlas.service.auth.ownership import require_owner
from gradatlas.service.contracts.errors import Conflict, NotFound, validated
from gradatlas.service.contracts.resources import Experiment
from gradatlas.service.store.records import ExperimentPatch, delete_experiment, update_experiment

blueprint = Blueprint("edits", __name__, url_prefix="/api/v1")


@blueprint.patch("/experiments/<experiment_id>")
@declare("Change name, tags or notes (owner or admin)", "patchExperiment", {200: (Experiment, "the changed experiment")},
         errors=(400, 401, 403, 404, 413, 415, 422), json=ExperimentPatch)
def patch_experiment(experiment_id: str) -> Response:
    require_owner(found_experiment(experiment_id), principal())
    patch = validated(ExperimentPatch, json_body(), "the patch", "the patch is not valid (name, tags and notes can change)")
    experiment = update_experiment(services().store, experiment_id, patch)
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id!r}")
    return jsonify(experiment.model_dump(mode="json"))


@blueprint.delete("/experiments/<experiment_id>")
@declare("Delete an experiment and its profile (owner or admin)", "deleteExperiment", {204: (None, "deleted")},
         errors=(401, 403, 404, 409))
def remove_experiment(experiment_id: str) -> tuple[str, int]:
    experiment = found_experiment(experiment_id)
    require_owner(experiment, principal())
    if experiment.status == "running":
        raise Conflict("cannot delete a running experiment: cancel it first")
    if not delete_experiment(services().store, experiment_id):
        raise NotFound(f"no experiment {experiment_id!r}")
    return "", 204
