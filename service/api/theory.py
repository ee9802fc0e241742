"""GET /api/v1/theory: the mean-field prediction for one activation and
initialisation (service/theory.py, NumPy only, so an API node answers it
without PyTorch)."""

from __future__ import annotations

import math

from flask import Blueprint, Response, jsonify, request
from gradatlas.service.api.declare import declare
from gradatlas.service.api.schemas import TheoryPrediction, TheoryQuery
from gradatlas.service.contracts.errors import InvalidInput
from gradatlas.service.science.theory import ACTIVATIONS, predict

blueprint = Blueprint("theory", __name__, url_prefix="/api/v1")


def _variance(name: str, default: str | None) -> float:
    """A query parameter that must be a finite number ≥ 0 (422 naming it otherwise)."""
    raw = request.args.get(name, default)
    if raw is None:
        raise InvalidInput(f"{name} is required", [{"loc": ["query", name], "msg": "field required"}])
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(f"{name} must be a finite number >= 0",
                           [{"loc": ["query", name], "msg": f"expected a finite number >= 0, got {raw!r}"}])
    return value


@blueprint.get("/theory")
@declare("Mean-field prediction: q_star, chi1, gain = √χ₁, depth_scale = −1/ln χ₁, critical_weight_var", "getTheory",
         {200: (TheoryPrediction, "the prediction")}, errors=(401, 422), query=TheoryQuery)
def theory() -> Response:
    """{q_star, chi1, gain, depth_scale, critical_weight_var}; q_star null when
    it grows without bound, depth_scale null at exact criticality."""
    activation = request.args.get("activation")
    if activation not in ACTIVATIONS:
        raise InvalidInput(f"activation must be one of {', '.join(ACTIVATIONS)}",
                           [{"loc": ["query", "activation"], "msg": f"expected one of {list(ACTIVATIONS)}, got {activation!r}"}])
    weight_var = _variance("weight_var", None)
    if weight_var == 0:
        raise InvalidInput("weight_var must be > 0", [{"loc": ["query", "weight_var"], "msg": "expected > 0, got 0"}])
    prediction = predict(activation, weight_var, _variance("bias_var", "0"))
    return jsonify({"activation": activation, "weight_var": weight_var, **prediction.to_dict()})
