"""The `gradatlas` commands that talk to a running service over HTTP (through
`service.client`), as opposed to `up`/`migrate`/`token`, which work on the
local database. Every command takes `--url`, `--token` (GRADATLAS_URL,
GRADATLAS_TOKEN, else $GRADATLAS_HOME/token) and `--json` for scripts."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import requests
from gradatlas.service.client import Client, GradAtlasError, Sweep
from gradatlas.service.contracts.resources import Experiment
from gradatlas.service.science.explain import explain, sci

EXIT_FAILED = 1


def remote(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the connection options and turns API errors into one clear line
    (or the API's JSON error body under --json) and a non-zero exit."""

    @click.option("--url", envvar="GRADATLAS_URL", default="http://127.0.0.1:8000", show_default=True, help="the service")
    @click.option("--token", envvar="GRADATLAS_TOKEN", default=None, help="bearer token (default: $GRADATLAS_HOME/token)")
    @click.option("--json", "as_json", is_flag=True, help="machine-readable JSON output")
    @functools.wraps(command)
    def wrapper(url: str, token: str | None, as_json: bool, **kwargs: Any) -> Any:
        client = Client(url, token)
        try:
            return command(client, as_json, **kwargs)
        except GradAtlasError as exc:
            if as_json:
                click.echo(json.dumps(exc.body or {"error": {"code": exc.code, "message": exc.message}}), err=True)
                sys.exit(EXIT_FAILED)
            raise click.ClickException(str(exc)) from exc
        except TimeoutError as exc:
            raise click.ClickException(str(exc)) from exc
        except requests.ConnectionError as exc:
            raise click.ClickException(f"cannot reach {url}: is `gradatlas up` running?") from exc

    return wrapper


def load_spec(path: str) -> Any:
    """JSON, or YAML by extension (a YAML superset reads JSON too)."""
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)


def _dump(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


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


def _watch(client: Client, experiment_id: str, quiet: bool, timeout: float | None) -> Experiment:
    tty = sys.stderr.isatty()
    last = [""]

    def show(experiment: Experiment) -> None:
        line = progress_line(experiment)
        if quiet or line == last[0]:
            return
        last[0] = line
        click.echo(("\r" + line) if tty else line, err=True, nl=not tty)

    done = client.wait(experiment_id, timeout=timeout, interval=0.5, on_progress=show)
    if tty and not quiet:
        click.echo("", err=True)
    return done


def _finish(experiment: Experiment, as_json: bool) -> None:
    if as_json:
        _dump(experiment.model_dump(mode="json"))
    else:
        _show(experiment)
    if experiment.status != "succeeded":
        sys.exit(EXIT_FAILED)


def _show(e: Experiment) -> None:
    click.echo(f"{e.id}  {e.name or '(unnamed)'}  {e.status}" + (f" ({e.reason})" if e.reason else ""))
    m = e.spec.get("model", {})
    init = m.get("init", {})
    click.echo(f"  {m.get('arch')} depth {m.get('depth')} width {m.get('width')} {m.get('activation')}, "
               f"init {init.get('scheme')} (weight_var {init.get('weight_var')}), "
               f"{e.spec.get('training', {}).get('steps')} steps; owner {e.owner}; created {e.created_at:%Y-%m-%d %H:%M:%S}")
    if e.error:
        click.echo(f"  error: {e.error}")
    if e.summary:
        s = e.summary
        click.echo(f"  verdict: {s.get('verdict')}   signal ratio {sci(s.get('signal_ratio_init'))}   "
                   f"grad ratio {sci(s.get('grad_ratio_init'))} → {sci(s.get('grad_ratio_final'))}   "
                   f"final loss {s.get('final_loss')}")
    click.echo("  " + explain(e.summary, e.spec, e.status))
    for remedy in (e.summary or {}).get("remedies", []):
        click.echo(f"  remedy: {remedy.get('title')}  patch {json.dumps(remedy.get('patch'))}")


def register(main: click.Group) -> None:
    """Attach the remote commands to the `gradatlas` group."""

    @main.command()
    @click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--wait", is_flag=True, help="follow it with a progress bar; exit 1 unless it succeeds")
    @click.option("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    @remote
    def submit(client: Client, as_json: bool, spec_file: str, wait: bool, timeout: float | None) -> None:
        """Submit the experiment in SPEC_FILE (JSON or YAML)."""
        experiment = client.submit(load_spec(spec_file))
        if not wait:
            _dump(experiment.model_dump(mode="json")) if as_json else click.echo(f"{experiment.id}  {experiment.status}")
            return
        if not as_json:
            click.echo(f"submitted {experiment.id}", err=True)
        _finish(_watch(client, experiment.id, as_json, timeout), as_json)

    @main.command("ls")
    @click.option("--filter", "filter_", default=None, help="the history query language, e.g. \"model.depth > 20\"")
    @click.option("--order-by", default=None, help="e.g. \"created_at desc\"")
    @click.option("--limit", default=50, show_default=True, help="at most this many rows")
    @remote
    def ls(client: Client, as_json: bool, filter_: str | None, order_by: str | None, limit: int) -> None:
        """List experiments, newest first."""
        items = list(client.list(filter=filter_, order_by=order_by, limit=min(limit, 200), max_items=limit))
        if as_json:
            _dump([item.model_dump(mode="json") for item in items])
            return
        click.echo(f"{'ID':<24}  {'NAME':<22} {'STATUS':<9} {'VERDICT':<9} {'MODEL':<28} {'SIGNAL RATIO':>12}")
        for e in items:
            m = e.spec.get("model", {})
            model = f"{m.get('arch')} {m.get('depth')}×{m.get('width')} {m.get('activation')}"
            summary = e.summary or {}
            click.echo(f"{e.id:<24}  {e.name[:22]:<22} {e.status:<9} {summary.get('verdict') or '':<9} {model[:28]:<28} "
                       f"{sci(summary.get('signal_ratio_init')) if summary else '':>12}")

    @main.command()
    @click.argument("experiment_id")
    @remote
    def show(client: Client, as_json: bool, experiment_id: str) -> None:
        """One experiment: status, verdict explained, remedies."""
        experiment = client.get(experiment_id)
        _dump(experiment.model_dump(mode="json")) if as_json else _show(experiment)

    @main.command()
    @click.argument("experiment_id")
    @click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
    @click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="write here instead of stdout")
    @remote
    def profile(client: Client, as_json: bool, experiment_id: str, fmt: str, output: str | None) -> None:
        """The recorded profile as CSV rows step,layer,metric,value or JSON."""
        text = json.dumps(client.profile_dict(experiment_id)) if fmt == "json" or as_json else client.profile_csv(experiment_id)
        if output:
            Path(output).write_text(text)
            click.echo(f"wrote {output}", err=True)
        else:
            click.echo(text, nl=not text.endswith("\n"))

    @main.command()
    @click.argument("experiment_id")
    @click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="FILE.png or FILE.svg")
    @click.option("--metric", default="grad_norm", show_default=True)
    @click.option("--kind", type=click.Choice(["lines", "heatmap"]), default="lines", show_default=True)
    @remote
    def plot(client: Client, as_json: bool, experiment_id: str, output: str | None, metric: str, kind: str) -> None:
        """Save a figure of one metric (format from the file's extension)."""
        output = output or f"{experiment_id}-{metric}.png"
        fmt = "svg" if output.endswith(".svg") else "png"
        data = client.plot(experiment_id, fmt=fmt, metric=metric, kind=kind)
        Path(output).write_bytes(data)
        _dump({"path": output, "bytes": len(data), "format": fmt}) if as_json else click.echo(f"wrote {output}")

    @main.command()
    @click.argument("experiment_id")
    @remote
    def cancel(client: Client, as_json: bool, experiment_id: str) -> None:
        """Cancel a queued or running experiment."""
        experiment = client.cancel(experiment_id)
        if as_json:
            _dump(experiment.model_dump(mode="json"))
        elif experiment.status == "running":
            click.echo(f"{experiment.id}  running: cancel requested; the worker stops at its next heartbeat")
        else:
            click.echo(f"{experiment.id}  {experiment.status}")

    @main.command()
    @click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--wait", is_flag=True, help="wait until every point has ended")
    @click.option("--timeout", type=float, default=None)
    @remote
    def sweep(client: Client, as_json: bool, spec_file: str, wait: bool, timeout: float | None) -> None:
        """Submit a sweep (`name`, `base`, `grid`, `seeds`) from SPEC_FILE."""
        created = client.sweep(load_spec(spec_file))
        if wait:
            def show(s: Sweep) -> None:
                if not as_json:
                    click.echo("  ".join(f"{k} {v}" for k, v in sorted(s.counts.items())), err=True)

            created = client.wait_sweep(created.id, timeout=timeout, on_progress=show)
        if as_json:
            _dump(created.raw)
        else:
            click.echo(f"sweep {created.id}  " + "  ".join(f"{k} {v}" for k, v in sorted(created.counts.items())))
        if wait and any(created.counts.get(state, 0) for state in ("failed", "cancelled")):
            sys.exit(EXIT_FAILED)

    @main.command()
    @click.argument("experiment_ids", nargs=-1, required=True)
    @remote
    def compare(client: Client, as_json: bool, experiment_ids: tuple[str, ...]) -> None:
        """Several experiments side by side (GET /api/v1/compare)."""
        body = client.compare(list(experiment_ids))
        if as_json:
            _dump(body)
            return
        for e in (client.get(i) for i in experiment_ids):
            click.echo(f"{e.id}  {e.name:<22} {(e.summary or {}).get('verdict', e.status):<9} "
                       f"signal ratio {sci((e.summary or {}).get('signal_ratio_init'))}")
        differences = body.get("spec_differences") or body.get("differences") or {}
        for path, values in (differences.items() if isinstance(differences, dict) else []):
            click.echo(f"  {path}: {values}")
