"""How the remote commands print: fixed-width tables whose long cells end in
"…", progress lines, one experiment, a sweep's table, a comparison. Spec
values are shown as JSON (true, null, ["example"]), never as Python reprs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from gradatlas.service.contracts.resources import Experiment
from gradatlas.service.contracts.text import escaped
from gradatlas.service.reports.differences import as_json, flatten, reads
from gradatlas.service.science.explain import explain, sci

ELLIPSIS = "…"


def cut(text: str, width: int) -> str:
    """`text` in at most `width` characters, ending in "…" when it was longer;
    control and bidi characters shown as escapes (names stored before the
    service refused them)."""
    text = escaped(text)
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


def dump(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], max_width: int = 40) -> list[str]:
    """Columns as wide as their widest cell (at most `max_width`, cut with "…")."""
    cells = [[cut(cell, max_width) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in [list(headers), *cells]]


def progress_line(experiment: Experiment, width: int = 30) -> str:
    """`[######------] step 120/200  loss 2.30  grad ratio 3×10⁻⁹  running`;
    loss and ratio appear as soon as the service reports them."""
    total = max(experiment.progress.total, 1)
    done = min(experiment.progress.step, total)
    bar = "#" * round(width * done / total) + "-" * (width - round(width * done / total))
    summary = experiment.summary or {}
    loss = summary.get("final_loss")
    ratio = summary.get("grad_ratio_final", summary.get("grad_ratio_init"))
    return (f"[{bar}] step {experiment.progress.step}/{experiment.progress.total}"
            f"  loss {'…' if loss is None else f'{loss:.4g}'}  grad ratio {'…' if ratio is None else sci(ratio)}"
            f"  {experiment.status}")


def ls_row(e: Experiment) -> list[str]:
    m = e.spec.get("model", {})
    summary = e.summary or {}
    model = f"{m.get('arch')} {m.get('depth')}×{m.get('width')} {m.get('activation')}"
    return [e.id, e.name, e.status, summary.get("verdict") or "", model, sci(summary.get("signal_ratio_init")) if summary else ""]


LS_COLUMNS = (("ID", 24), ("NAME", 22), ("STATUS", 9), ("VERDICT", 9), ("MODEL", 28), ("SIGNAL RATIO", 12))


def ls_lines(items: Sequence[Experiment]) -> list[str]:
    """The `ls` table: fixed columns, long names and models cut with "…"."""
    def line(cells: Sequence[str]) -> str:
        padded = [cut(cell, width).ljust(width) for cell, (_, width) in zip(cells, LS_COLUMNS, strict=True)]
        padded[-1] = padded[-1].strip().rjust(LS_COLUMNS[-1][1])
        return "  ".join(padded)

    return [line([name for name, _ in LS_COLUMNS]), *(line(ls_row(e)) for e in items)]


def show_experiment(e: Experiment) -> None:
    """`gradatlas show`: status, the model in one line, verdict, explanation, remedies."""
    click.echo(f"{e.id}  {escaped(e.name) or '(unnamed)'}  {e.status}" + (f" ({e.reason})" if e.reason else ""))
    m = e.spec.get("model", {})
    init = m.get("init", {})
    weight_var = f" (weight_var {as_json(init.get('weight_var'))})" if reads(flatten(e.spec), "model.init.weight_var") else ""
    click.echo(f"  {m.get('arch')} depth {m.get('depth')} width {m.get('width')} {m.get('activation')}, "
               f"init {init.get('scheme')}{weight_var}, "
               f"{as_json(e.spec.get('training', {}).get('steps'))} steps; owner {e.owner}; "
               f"created {e.created_at:%Y-%m-%d %H:%M:%S}")
    if e.error:
        click.echo(f"  error: {e.error}")
    if e.summary:
        s = e.summary
        click.echo(f"  verdict: {s.get('verdict')}   signal ratio {sci(s.get('signal_ratio_init'))}   "
                   f"grad ratio {sci(s.get('grad_ratio_init'))} → {sci(s.get('grad_ratio_final'))}   "
                   f"final loss {sci(s.get('final_loss'))}")
    click.echo("  " + explain(e.summary, e.spec, e.status))
    for remedy in (e.summary or {}).get("remedies", []):
        click.echo(f"  remedy: {remedy.get('title')}  patch {json.dumps(remedy.get('patch'))}")


def sweep_lines(raw: dict[str, Any], page_url: str) -> list[str]:
    """The end of `sweep --wait`: counts, one row per point, the web page."""
    axes = list(raw.get("axes") or [])
    counts = "  ".join(f"{k} {v}" for k, v in sorted((raw.get("counts") or {}).items()))
    rows = [[str(row.get("index")), *(as_json((row.get("values") or {}).get(axis)) for axis in axes),
             row.get("experiment_id", ""), row.get("status", ""), (row.get("summary") or {}).get("verdict") or "",
             sci((row.get("summary") or {}).get("signal_ratio_init"))] for row in raw.get("table") or []]
    headers = ["INDEX", *axes, "EXPERIMENT", "STATUS", "VERDICT", "SIGNAL RATIO"]
    return [f"sweep {raw.get('id')}  {counts}", *table(headers, rows), f"web page: {page_url}"]


def compare_lines(body: dict[str, Any]) -> list[str]:
    """`gradatlas compare`: one row per run, then the spec fields that differ."""
    summary = body.get("summary") or {}
    runs = body.get("runs") or []
    rows = [[run["id"], run.get("name") or "", (summary.get("verdict") or [None] * len(runs))[i] or run.get("status", ""),
             sci((summary.get("signal_ratio_init") or [None] * len(runs))[i])] for i, run in enumerate(runs)]
    lines = table(["ID", "NAME", "VERDICT", "SIGNAL RATIO"], rows, max_width=32)
    differences: dict[str, list[Any]] = body.get("spec_differences") or {}
    if not differences:
        return [*lines, "no spec field that these runs read differs (name, notes and tags are not compared)"]
    diff_rows = [[path, *(as_json(value) for value in values)] for path, values in differences.items()]
    return [*lines, "", "spec fields that differ (null: the run does not read it or leaves it unset):",
            *table(["FIELD", *(run["id"] for run in runs)], diff_rows)]
