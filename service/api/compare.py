"""GET /api/v1/compare?ids=a,b,c[&metrics=grad_norm,signal_norm]."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from gradatlas.service.api.context import services
from gradatlas.service.api.declare import declare
from gradatlas.service.api.requests import found_experiment
from gradatlas.service.api.schemas import CompareQuery
from gradatlas.service.contracts.errors import InvalidInput
from gradatlas.service.contracts.spec import ALL_METRICS
from gradatlas.service.reports.compare import MAX_COMPARE, CannotAlign, Comparison, compare

blueprint = Blueprint("compare", __name__, url_prefix="/api/v1")


def _list(name: str) -> list[str]:
    return [part.strip() for part in request.args.get(name, "").split(",") if part.strip()]


@blueprint.get("/compare")
@declare("Profiles aligned by layer and step, spec differences, summaries side by side", "compareExperiments",
         {200: (Comparison, "the comparison")}, errors=(401, 404, 422), query=CompareQuery)
def compare_experiments() -> Response:
    ids = _list("ids")
    if not 2 <= len(ids) <= MAX_COMPARE or len(set(ids)) != len(ids):
        raise InvalidInput(f"ids must name 2 to {MAX_COMPARE} different experiments, comma-separated",
                           [{"loc": ["query", "ids"], "msg": f"got {len(ids)} ids ({len(set(ids))} different)"}])
    metrics = _list("metrics") or None
    unknown = sorted(set(metrics or []) - set(ALL_METRICS))
    if unknown:
        raise InvalidInput(f"unknown metrics {unknown}", [{"loc": ["query", "metrics"], "msg": f"choose from {list(ALL_METRICS)}"}])
    experiments = [found_experiment(experiment_id) for experiment_id in ids]
    try:
        comparison = compare(services().store, experiments, metrics)
    except CannotAlign as exc:
        raise InvalidInput(f"cannot align the experiments: {exc}", [{"loc": ["query", "ids"], "msg": str(exc)}]) from exc
    return jsonify(comparison.model_dump(mode="json"))
