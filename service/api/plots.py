"""GET /api/v1/experiments/{id}/plot.png|svg|pdf: one metric of a profile as a
figure for a paper or a slide, so nobody has to re-plot 2,000 numbers."""

from __future__ import annotations

from flask import Blueprint, Response, request
from gradatlas.service.api.context import services
from gradatlas.service.api.declare import declare
from gradatlas.service.api.requests import found_experiment
from gradatlas.service.api.schemas import PlotQuery
from gradatlas.service.contracts.errors import InvalidInput, NotFound
from gradatlas.service.reports import plots

blueprint = Blueprint("plots", __name__, url_prefix="/api/v1")


@blueprint.get("/experiments/<experiment_id>/plot.<fmt>")
@declare("A figure of one metric of the profile, drawn by matplotlib", "plotExperiment", {200: (None, "the figure")},
         errors=(401, 404, 422, 503), query=PlotQuery, variants=("fmt", plots.FORMATS))
def plot(experiment_id: str, fmt: str) -> Response:
    if fmt not in plots.FORMATS:
        raise NotFound(f"no figure format {fmt!r}; use plot.png, plot.svg or plot.pdf")
    metric = request.args.get("metric", "grad_norm")
    kind = request.args.get("kind", "lines")
    if kind not in plots.KINDS:
        raise InvalidInput("kind must be lines or heatmap", [{"loc": ["query", "kind"], "msg": f"got {kind!r}"}])
    experiment = found_experiment(experiment_id)
    profile = services().store.get_profile(experiment_id)
    if profile is None:
        raise NotFound(f"experiment {experiment_id} has no profile yet (status {experiment.status})")
    if metric not in profile.metrics:
        recorded = ", ".join(sorted(profile.metrics))
        raise InvalidInput(f"metric {metric!r} was not recorded; recorded: {recorded}",
                           [{"loc": ["query", "metric"], "msg": f"expected one of {recorded}"}])
    body = plots.render(profile, experiment.name or experiment.id, metric, kind, fmt)
    filename = f"{experiment.id}-{metric}-{kind}.{fmt}"
    return Response(body, mimetype=plots.FORMATS[fmt], headers={"Content-Disposition": f"inline; filename={filename}"})
