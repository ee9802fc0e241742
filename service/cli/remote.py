"""The `gradatlas` commands that talk to a running service over HTTP (through
`service.client`), as opposed to `up`/`migrate`/`token`, which work on the
local database. Every command takes `--url`, `--token` (GRADATLAS_URL,
GRADATLAS_TOKEN, else $GRADATLAS_HOME/token) and `--json` for scripts;
`service.cli.connect` turns every failure into one line and exit status 1."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from gradatlas.service.cli.connect import EXIT_FAILED, load_spec, remote
from gradatlas.service.cli.output import compare_lines, dump, ls_lines, progress_line, show_experiment, sweep_lines
from gradatlas.service.client import Client, Sweep
from gradatlas.service.contracts.resources import Experiment

FIGURE_FORMATS = ("png", "svg", "pdf")
PAGE_MAX = 200  # the API's largest page


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
        dump(experiment.model_dump(mode="json"))
    else:
        show_experiment(experiment)
    if experiment.status != "succeeded":
        sys.exit(EXIT_FAILED)


def figure_format(output: str) -> str:
    """png, svg or pdf from the file name; anything else is refused before
    asking the service, so x.pdf never holds PNG bytes."""
    suffix = Path(output).suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        raise click.ClickException(f"cannot tell the figure format of {output}: name a .png, .svg or .pdf file with -o")
    return suffix


def list_page(client: Client, filter_: str | None, order_by: str | None, limit: int | None,
              page_token: str | None) -> tuple[list[Experiment], str | None]:
    """Up to `limit` experiments (None: all) from `page_token` on, following
    the pages, and the token where the next `ls` would go on."""
    items: list[Experiment] = []
    token = page_token
    while True:
        want = PAGE_MAX if limit is None else min(limit - len(items), PAGE_MAX)
        page, token = client.page(filter_, order_by, want, token)
        items += page
        if not token or (limit is not None and len(items) >= limit):
            return items, token


def register(main: click.Group) -> None:
    """Attach the remote commands to the `gradatlas` group."""

    @main.command()
    @click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--wait", is_flag=True, help="follow it with a progress bar; exit 1 unless it succeeds")
    @click.option("--timeout", type=float, default=None, help="give up waiting after this many seconds (exit 1)")
    @remote
    def submit(client: Client, as_json: bool, spec_file: str, wait: bool, timeout: float | None) -> None:
        """Submit the experiment in SPEC_FILE (JSON or YAML)."""
        experiment = client.submit(load_spec(spec_file))
        if not wait:
            dump(experiment.model_dump(mode="json")) if as_json else click.echo(f"{experiment.id}  {experiment.status}")
            return
        if not as_json:
            click.echo(f"submitted {experiment.id}", err=True)
        _finish(_watch(client, experiment.id, as_json, timeout), as_json)

    @main.command("ls")
    @click.option("--filter", "filter_", default=None, help="the history query language, e.g. \"model.depth > 20\"")
    @click.option("--order-by", default=None, help="e.g. \"created_at desc\"")
    @click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="at most this many rows")
    @click.option("--page-token", default=None, help="go on where an earlier `ls` stopped (it prints the token)")
    @click.option("--all", "all_", is_flag=True, help="every matching experiment, following every page (ignores --limit)")
    @remote
    def ls(client: Client, as_json: bool, filter_: str | None, order_by: str | None, limit: int,
           page_token: str | None, all_: bool) -> None:
        """List experiments, newest first."""
        items, next_token = list_page(client, filter_, order_by, None if all_ else limit, page_token)
        if as_json:
            dump([item.model_dump(mode="json") for item in items])
        else:
            click.echo("\n".join(ls_lines(items)))
        if next_token:
            click.echo(f"more: repeat with --page-token {next_token} (or --all for every page)", err=True)

    @main.command()
    @click.argument("experiment_id")
    @remote
    def show(client: Client, as_json: bool, experiment_id: str) -> None:
        """One experiment: status, verdict explained, remedies."""
        experiment = client.get(experiment_id)
        dump(experiment.model_dump(mode="json")) if as_json else show_experiment(experiment)

    @main.command()
    @click.argument("experiment_id")
    @click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
                  help="CSV rows step,layer,metric,value, or the profile as JSON")
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
    @click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
                  help="FILE.png, FILE.svg or FILE.pdf (default EXPERIMENT_ID-METRIC.png)")
    @click.option("--metric", default="grad_norm", show_default=True, help="which recorded metric to draw")
    @click.option("--kind", type=click.Choice(["lines", "heatmap"]), default="lines", show_default=True,
                  help="one line per recorded step, or a step × layer heatmap")
    @remote
    def plot(client: Client, as_json: bool, experiment_id: str, output: str | None, metric: str, kind: str) -> None:
        """Save a figure of one metric (PNG, SVG or PDF, from the file's extension)."""
        output = output or f"{experiment_id}-{metric}.png"
        fmt = figure_format(output)
        data = client.plot(experiment_id, fmt=fmt, metric=metric, kind=kind)
        Path(output).write_bytes(data)
        dump({"path": output, "bytes": len(data), "format": fmt}) if as_json else click.echo(f"wrote {output}")

    @main.command()
    @click.argument("experiment_id")
    @remote
    def cancel(client: Client, as_json: bool, experiment_id: str) -> None:
        """Cancel a queued or running experiment."""
        experiment = client.cancel(experiment_id)
        if as_json:
            dump(experiment.model_dump(mode="json"))
        elif experiment.status == "running":
            click.echo(f"{experiment.id}  running: cancel requested; the worker stops at its next heartbeat")
        else:
            click.echo(f"{experiment.id}  {experiment.status}")

    @main.command()
    @click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--wait", is_flag=True, help="wait until every point has ended, then print the sweep's table")
    @click.option("--timeout", type=float, default=None, help="give up waiting after this many seconds (exit 1)")
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
            dump(created.raw)
        elif wait:
            click.echo("\n".join(sweep_lines(created.raw, f"{client.url}/sweeps/{created.id}")))
        else:
            click.echo(f"sweep {created.id}  " + "  ".join(f"{k} {v}" for k, v in sorted(created.counts.items())))
        if wait and any(created.counts.get(state, 0) for state in ("failed", "cancelled")):
            sys.exit(EXIT_FAILED)

    @main.command()
    @click.argument("experiment_ids", nargs=-1, required=True)
    @remote
    def compare(client: Client, as_json: bool, experiment_ids: tuple[str, ...]) -> None:
        """Compare 2 to 10 experiments: verdicts and the spec fields that differ.

        Only fields that the experiments' archs read are listed; name, notes
        and tags are never differences."""
        body = client.compare(list(experiment_ids))
        if as_json:
            dump(body)
        else:
            click.echo("\n".join(compare_lines(body)))
