"""The pages: sign in, history, one experiment, compare, sweep. Each view
calls the functions the /api/v1 routes call, as the signed-in principal, and
renders; the charts' data is fetched by the browser through `/ui/api/...`, a
read-only window on the GET routes of /api/v1 for the signed-in session (the
browser holds only a session id, in an HttpOnly cookie, never the token)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, redirect, render_template, request, url_for
from gradatlas.service.api.auth import principal
from gradatlas.service.api.context import services
from gradatlas.service.api.errors import status_of
from gradatlas.service.api.requests import found_experiment, parse_limit
from gradatlas.service.contracts.errors import DomainError
from gradatlas.service.contracts.spec import apply_merge_patch
from gradatlas.service.jobs.cancel import cancel as cancel_experiment
from gradatlas.service.jobs.submit import submit
from gradatlas.service.reports.differences import as_json, spec_differences
from gradatlas.service.science.explain import explain, sci
from gradatlas.service.search.history import query_experiments
from gradatlas.service.web import sessions
from gradatlas.service.web.blueprint import blueprint, check_csrf, error_page, local_path, signed_in
from werkzeug.wrappers import Response as BaseResponse

ACTIVE = ("queued", "running")


@blueprint.app_template_filter("sci")
def _sci(value: float | None) -> str:
    return sci(value)


@blueprint.app_template_filter("spec_value")
def _spec_value(value: Any) -> str:
    """true, null, ["example"]: spec values as JSON, never Python's repr."""
    return as_json(value)


@blueprint.get("/")
def home() -> BaseResponse:
    return redirect(url_for("web.experiments"))


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str:
    error = None
    if request.method == "POST":
        check_csrf()
        token = request.form.get("token", "").strip()
        who = current_app.extensions["gradatlas"].tokens.authenticate(token) if token else None
        if who is not None:
            sessions.start(who)
            return redirect(local_path(request.args.get("next", "")) or url_for("web.experiments"))
        error = "That token is not valid (unknown, mistyped or revoked)."
    return render_template("login.html", error=error)


@blueprint.post("/logout")
@signed_in
def logout() -> BaseResponse:
    sessions.end()
    return redirect(url_for("web.login"))


@blueprint.get("/ui/api/<path:rest>")
@signed_in
def data(rest: str) -> Response:
    """GET-only window on /api/v1 for the pages' scripts: the route's own view,
    run in this request (same query string) as the signed-in principal; its
    errors leave through the API's error handlers, so they read the same."""
    endpoint, args = current_app.url_map.bind_to_environ(request.environ).match(f"/api/v1/{rest}", method="GET")
    return current_app.make_response(current_app.ensure_sync(current_app.view_functions[endpoint])(**args))


def _dump(model: Any) -> Any:
    """A resource as the API's JSON shows it: what the templates read."""
    return model.model_dump(mode="json")


@blueprint.get("/experiments")
@signed_in
def experiments() -> str:
    args = {key: request.args[key] for key in ("filter", "order_by", "page_token", "limit") if request.args.get(key)}
    args.setdefault("limit", "25")
    try:
        s = services()
        page = _dump(query_experiments(s.store, args.get("filter", ""), args.get("order_by", ""),
                                       parse_limit(args["limit"]), args.get("page_token"), pepper=s.settings.resolved_pepper()))
        error = None
    except DomainError as exc:  # a bad filter, order_by, limit or page token: shown above the empty table
        page, error = {"items": [], "next_page_token": None}, exc.message
    next_args: dict[str, Any] | None = {**args, "page_token": page["next_page_token"]} if page.get("next_page_token") else None
    return render_template("experiments.html", items=page["items"], error=error,
                           args=args, next_url=url_for("web.experiments", **next_args) if next_args else None,
                           sort_url=_sort_url(args),
                           first_url=url_for("web.experiments", **{k: v for k, v in args.items() if k != "page_token"}))  # type: ignore[arg-type]


def _sort_url(args: dict[str, str]) -> Any:
    """Link for a column header: ascending first, then descending."""
    def make(field: str) -> str:
        current = args.get("order_by", "")
        direction = "desc" if current == f"{field} asc" else "asc"
        rest: dict[str, Any] = {k: v for k, v in args.items() if k not in ("order_by", "page_token")}
        return url_for("web.experiments", **rest, order_by=f"{field} {direction}")
    return make


@blueprint.get("/experiments/<experiment_id>")
@signed_in
def experiment(experiment_id: str) -> tuple[str, int] | str:
    try:
        e = _dump(found_experiment(experiment_id))
    except DomainError as exc:
        return error_page(exc)
    return render_template("experiment.html", e=e, spec_json=json.dumps(e["spec"], indent=2),
                           explanation=explain(e["summary"], e["spec"], e["status"]), active=e["status"] in ACTIVE)


@blueprint.get("/experiments/<experiment_id>/summary")
@signed_in
def summary_fragment(experiment_id: str) -> tuple[str, int] | str:
    """The verdict card alone: the page swaps it in when a run ends."""
    try:
        e = _dump(found_experiment(experiment_id))
    except DomainError as exc:
        return exc.message, status_of(exc)
    return render_template("_summary.html", e=e, explanation=explain(e["summary"], e["spec"], e["status"]))


@blueprint.post("/experiments/<experiment_id>/cancel")
@signed_in
def cancel(experiment_id: str) -> BaseResponse:
    try:
        cancel_experiment(services().store, found_experiment(experiment_id), principal())
    except DomainError:
        pass  # not the owner, or already finished: the page it returns to shows the status as it is
    return redirect(url_for("web.experiment", experiment_id=experiment_id))


@blueprint.post("/experiments/<experiment_id>/rerun")
@signed_in
def rerun(experiment_id: str) -> BaseResponse | tuple[str, int]:
    """Apply one remedy's merge patch to the spec, submit, open the comparison."""
    try:
        original = found_experiment(experiment_id)
    except DomainError as exc:
        return error_page(exc)
    remedies = (original.summary or {}).get("remedies") or []
    index = request.form.get("remedy", "")
    if not index.isdigit() or int(index) >= len(remedies):
        return render_template("error.html", message="no such remedy"), 422
    remedy = remedies[int(index)]
    spec = apply_merge_patch(original.spec, remedy.get("patch") or {})
    spec["name"] = f"{original.name or 'experiment'} + remedy"[:200]
    spec["notes"] = f"rerun of {experiment_id}: {remedy.get('title', '')}"[:10000]
    s = services()
    try:
        created = submit(spec, principal().name, s.store, s.enqueue, s.settings)
    except DomainError as exc:
        return error_page(exc)
    return redirect(url_for("web.compare", ids=f"{experiment_id},{created.id}"))


@blueprint.get("/compare")
@signed_in
def compare() -> str:
    ids = [i for i in request.args.get("ids", "").replace(" ", ",").split(",") if i][:8]
    found, errors = [], []
    for experiment_id in ids:
        try:
            found.append(_dump(found_experiment(experiment_id)))
        except DomainError as exc:
            errors.append(f"{experiment_id}: {exc.message}")
    differences = spec_differences([e["spec"] for e in found])
    return render_template("compare.html", experiments=found, errors=errors, differences=differences, ids=",".join(ids))


@blueprint.get("/sweeps/<sweep_id>")
@signed_in
def sweep(sweep_id: str) -> str:
    return render_template("sweep.html", sweep_id=sweep_id)
