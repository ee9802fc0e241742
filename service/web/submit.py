"""The submit form: a spec builder with the fields people change most, the
rest as a JSON object, examples to start from, and the API's validation
errors shown next to the field they name (by the error's `loc`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import redirect, render_template, request, url_for
from gradatlas.service.api.auth import principal
from gradatlas.service.api.context import services
from gradatlas.service.api.requests import first_too_deep
from gradatlas.service.contracts.errors import DomainError
from gradatlas.service.contracts.spec import ExperimentSpec, apply_merge_patch
from gradatlas.service.jobs.submit import submit as submit_experiment
from gradatlas.service.reports.differences import flatten
from gradatlas.service.web.blueprint import blueprint, signed_in
from gradatlas.service.web.specs import set_path
from werkzeug.wrappers import Response as BaseResponse

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


def _choices(field: str, *path: str) -> tuple[str, ...]:
    model: Any = ExperimentSpec
    for key in path:
        model = model.model_fields[key].annotation
    return tuple(model.model_fields[field].annotation.__args__)


@dataclass(frozen=True)
class Field:
    path: str
    label: str
    kind: str  # int, float, text, tags, choice
    choices: tuple[str, ...] = ()
    help: str = ""


FIELDS: tuple[Field, ...] = (
    Field("name", "Name", "text", help="shown in the history and as the figures' title"),
    Field("tags", "Tags", "tags", help="comma-separated"),
    Field("model.arch", "Architecture", "choice", _choices("arch", "model")),
    Field("model.depth", "Depth", "int", help="hidden layers"),
    Field("model.width", "Width", "int", help="units per layer"),
    Field("model.activation", "Activation", "choice", _choices("activation", "model")),
    Field("model.norm", "Normalisation", "choice", _choices("norm", "model")),
    Field("model.init.scheme", "Init scheme", "choice", _choices("scheme", "model", "init")),
    Field("model.init.weight_var", "Weight variance σ_w²", "float", help="normal/uniform: W ~ N(0, σ_w²/fan_in)"),
    Field("model.init.bias_mean", "Bias mean", "float", help="negative kills ReLU units"),
    Field("model.init.bias_var", "Bias variance σ_b²", "float"),
    Field("data.name", "Data", "choice", _choices("name", "data")),
    Field("training.steps", "Steps", "int", help="0: at initialisation only"),
    Field("training.optimizer", "Optimiser", "choice", _choices("optimizer", "training")),
    Field("training.lr", "Learning rate", "float"),
    Field("training.clip_norm", "Clip gradient norm", "float", help="empty: no clipping"),
    Field("probe.every", "Record every N steps", "int"),
    Field("seed", "Seed", "int"),
)
FIELD_PATHS = {field.path for field in FIELDS}


def examples() -> dict[str, dict[str, Any]]:
    """examples/*.json by file stem; empty where the package runs without them."""
    found = {}
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        try:
            found[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return found


def split(spec: dict[str, Any]) -> tuple[dict[str, str], str]:
    """A spec as form values (the fields) and a JSON object (everything else)."""
    flat = flatten(spec)
    values = {p: (", ".join(v) if isinstance(v, list) else "" if v is None else str(v)) for p, v in flat.items() if p in FIELD_PATHS}
    rest: dict[str, Any] = {}
    for path, value in flat.items():
        if path not in FIELD_PATHS and value not in (None, {}):
            set_path(rest, path, value)
    return values, json.dumps(rest, indent=2) if rest else "{}"


def build(form: dict[str, str], extra: str, max_depth: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The spec from the form, and errors by field path for what cannot even be
    parsed (JSON nested past `max_depth` included, as in an API body)."""
    errors: dict[str, str] = {}
    try:
        too_deep = first_too_deep(extra.encode("utf-8", "surrogatepass"), max_depth)
        if too_deep is not None:
            raise ValueError(f"nested deeper than the limit of {max_depth} levels (at byte {too_deep})")
        spec = json.loads(extra or "{}")
        if not isinstance(spec, dict):
            raise ValueError("expected a JSON object")
    except ValueError as exc:
        errors["extra"], spec = f"not a JSON object: {exc}", {}
    for field in FIELDS:
        raw = form.get(field.path, "").strip()
        if not raw:
            continue
        try:
            value: Any = {"int": int, "float": float}.get(field.kind, str)(raw)
        except ValueError:
            errors[field.path] = f"expected {'an integer' if field.kind == 'int' else 'a number'}, got {raw!r}"
            continue
        if field.kind == "tags":
            value = [tag.strip() for tag in raw.split(",") if tag.strip()]
        spec = apply_merge_patch(spec, _nested(field.path, value))
    return spec, errors


def _nested(path: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    set_path(out, path, value)
    return out


def _place(error: DomainError, errors: dict[str, str]) -> list[str]:
    """Each detail next to the field its `loc` names (into `errors`); the rest,
    or the message when no detail says more, as general errors (returned)."""
    general: list[str] = []
    for detail in error.details:
        path = ".".join(str(part) for part in detail.get("loc", []))
        if path in FIELD_PATHS and path not in errors:
            errors[path] = detail.get("msg", "")
        else:
            general.append(f"{path or 'spec'}: {detail.get('msg', '')}")
    return general or ([] if errors else [error.message])


@blueprint.route("/submit", methods=["GET", "POST"])
@signed_in
def submit() -> BaseResponse | str | tuple[str, int]:
    all_examples = examples()
    general: list[str] = []
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, extra = dict(request.form), request.form.get("extra", "{}")
        s = services()
        spec, errors = build(values, extra, s.settings.max_json_depth)
        if not errors:
            try:
                created = submit_experiment(spec, principal().name, s.store, s.enqueue, s.settings)
            except DomainError as exc:
                general = _place(exc, errors)
            else:
                return redirect(url_for("web.experiment", experiment_id=created.id))
        return render_template("submit.html", fields=FIELDS, values=values, extra=extra, errors=errors, general=general,
                               examples=all_examples, chosen=request.form.get("example", "")), 422
    chosen = request.args.get("example") or ("deep-sigmoid" if "deep-sigmoid" in all_examples else next(iter(all_examples), ""))
    base: dict[str, Any] = all_examples.get(chosen, {"model": {"arch": "mlp", "depth": 20, "width": 256, "activation": "sigmoid"}})
    if request.args.get("from"):
        original = services().store.get_experiment(request.args["from"])
        if original is not None:
            base, chosen = original.spec, ""
    values, extra = split(base)
    return render_template("submit.html", fields=FIELDS, values=values, extra=extra, errors=errors, general=general,
                           examples=all_examples, chosen=chosen)
