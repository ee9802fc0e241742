"""The Python client and the `gradatlas` CLI against a real `gradatlas up`:
what a user types, what they get back, and the exit codes scripts rely on."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests
from gradatlas.service.client import Client, GradAtlasError

from tests.e2e.conftest import SMALL_SIGMOID, Service

GRADATLAS = str(Path(sys.executable).parent / "gradatlas")


def cli(service: Service, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([GRADATLAS, *args], env=service.env, capture_output=True, text=True, timeout=180)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_client_submit_wait_profile_and_list(service: Service):
    client = Client(service.url, service.token)
    seen: list[str] = []
    submitted = client.submit({**SMALL_SIGMOID, "name": "client-sigmoid"})
    done = client.wait(submitted.id, timeout=120, interval=0.2, on_progress=lambda e: seen.append(e.status))
    assert done.status == "succeeded" and done.summary["verdict"] == "vanishing"
    assert seen[-1] == "succeeded" and len(seen) >= 1

    arrays = client.profile(done.id)
    assert arrays.metrics["grad_norm"].shape == (3, 11) and arrays.metrics["grad_norm"].dtype == np.float64
    assert list(arrays.steps) == [0, 10, 19]
    assert arrays.metrics["signal_norm"][0, 0] < 1e-3 * arrays.metrics["signal_norm"][0, 9]
    plain = client.profile_dict(done.id)
    assert json.loads(json.dumps(plain))["steps"] == [0, 10, 19]
    assert plain["metrics"]["grad_norm"][0][0] == pytest.approx(arrays.metrics["grad_norm"][0, 0])

    ids = [e.id for e in client.list(limit=1, max_items=500)]  # one item per page: paging is exercised
    assert done.id in ids and len(ids) == len(set(ids))


def test_client_errors_carry_the_api_body(service: Service):
    client = Client(service.url, service.token)
    with pytest.raises(GradAtlasError) as caught:
        client.submit({"model": {"arch": "mlp", "depth": 0, "width": 8, "activation": "tanh"}})
    assert caught.value.status == 422 and caught.value.code == "validation_error"
    assert any(detail["loc"][-1] == "depth" for detail in caught.value.details) and caught.value.request_id
    with pytest.raises(GradAtlasError) as missing:
        client.get("nope")
    assert missing.value.status == 404
    with pytest.raises(GradAtlasError) as unauthorised:
        Client(service.url, "ga_wrong").get("nope")
    assert unauthorised.value.status == 401


def test_cli_submit_wait_show_profile_plot(service: Service, tmp_path: Path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({**SMALL_SIGMOID, "name": "cli-sigmoid"}))  # JSON is YAML too
    result = cli(service, "submit", str(spec), "--wait")
    assert "step 20/20" in result.stderr and "succeeded" in result.stderr
    assert "verdict: vanishing" in result.stdout and "hidden layer 1 is" in result.stdout
    experiment_id = result.stdout.split()[0]

    shown = json.loads(cli(service, "show", experiment_id, "--json").stdout)
    assert shown["id"] == experiment_id and shown["summary"]["verdict"] == "vanishing"
    rows = list(csv.DictReader(io.StringIO(cli(service, "profile", experiment_id).stdout)))
    assert {"step", "layer", "metric", "value"} == set(rows[0]) and any(r["metric"] == "grad_norm" for r in rows)
    out = tmp_path / "profile.json"
    cli(service, "profile", experiment_id, "--format", "json", "-o", str(out))
    assert json.loads(out.read_text())["steps"] == [0, 10, 19]

    png, svg = tmp_path / "fig.png", tmp_path / "fig.svg"
    cli(service, "plot", experiment_id, "-o", str(png), "--metric", "signal_norm")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png.read_bytes()[16:24]) == (1200, 750)
    cli(service, "plot", experiment_id, "-o", str(svg), "--kind", "heatmap")
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()

    listed = json.loads(cli(service, "ls", "--json", "--limit", "500").stdout)
    assert experiment_id in [item["id"] for item in listed]
    assert experiment_id in cli(service, "ls").stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error, after checking: exit status 1, nothing on stdout, exactly
    one line on stderr and no traceback."""
    assert result.returncode == 1 and result.stdout == "", result.stdout + result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr.removeprefix("Error: ").rstrip("\n")


def test_cli_exit_codes_validation_cancel_and_failure(service: Service, tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh", "colour": "red"}}))
    assert one_line_error(cli(service, "submit", str(bad), check=False)) == (
        "the experiment spec is not valid (422 validation_error): model.colour: Extra inputs are not permitted; "
        "fix these fields and run the command again")
    result = cli(service, "submit", str(bad), "--json", check=False)
    assert result.returncode == 1 and json.loads(result.stderr)["error"]["code"] == "validation_error"

    long = tmp_path / "long.json"
    long.write_text(json.dumps({**SMALL_SIGMOID, "name": "to-cancel", "training": {"steps": 100000}, "probe": {"every": 1000}}))
    experiment_id = cli(service, "submit", str(long)).stdout.split()[0]
    assert cli(service, "cancel", experiment_id).stdout in (
        f"{experiment_id}  cancelled\n", f"{experiment_id}  running: cancel requested; the worker stops at its next heartbeat\n")
    client = Client(service.url, service.token)
    assert client.wait(experiment_id, timeout=60, interval=0.2).status == "cancelled"
    shown = cli(service, "show", experiment_id, check=False)
    assert shown.returncode == 0 and shown.stdout.startswith(f"{experiment_id}  to-cancel  cancelled")

    waited = cli(service, "submit", str(long), "--json", "--wait", "--timeout", "0.5", check=False)
    waited_id = client.page(limit=1)[0][0].id
    client.cancel(waited_id)
    assert re.fullmatch(rf"experiment {waited_id} still (queued|running) after 0.5 s; wait longer with --timeout, "
                        r"or look later with `gradatlas show`", one_line_error(waited))

    unreachable = cli(service, "ls", "--url", "http://127.0.0.1:9", check=False)
    assert one_line_error(unreachable) == "cannot reach http://127.0.0.1:9: is `gradatlas up` running? Set --url or GRADATLAS_URL"
    refused = cli(service, "ls", "--token", "ga_wrong", check=False)
    assert one_line_error(refused) == ("the token is not valid (unknown, malformed or revoked) (401 unauthorized); the token "
                                       "from --token was refused: check it, or make one with `gradatlas token create NAME`")


def test_cli_plot_pdf_and_refused_extensions(service: Service, tmp_path: Path):
    client = Client(service.url, service.token)
    done = client.wait(client.submit({**SMALL_SIGMOID, "name": "cli-pdf"}).id, timeout=120, interval=0.2)
    pdf = tmp_path / "fig.pdf"
    assert cli(service, "plot", done.id, "-o", str(pdf)).stdout == f"wrote {pdf}\n"
    assert pdf.read_bytes().startswith(b"%PDF-") and b"/MediaBox [ 0 0 576 360 ]" in pdf.read_bytes()
    jpg = tmp_path / "fig.jpg"
    assert one_line_error(cli(service, "plot", done.id, "-o", str(jpg), check=False)) == (
        f"cannot tell the figure format of {jpg}: name a .png, .svg or .pdf file with -o")
    assert not jpg.exists()


def test_cli_ls_pages_and_cuts_long_names(service: Service):
    client = Client(service.url, service.token)
    long_name = "a-rather-long-experiment-name-for-ls"
    for _ in range(2):
        client.submit({**SMALL_SIGMOID, "name": long_name, "training": {"steps": 0}})
    newest = [e.id for e in client.list(limit=200)]

    first = cli(service, "ls", "--limit", "1")
    header, row = first.stdout.splitlines()
    assert row.split()[:2] == [newest[0], long_name[:21] + "…"] and len(row.split()[1]) == 22
    token = re.fullmatch(r"more: repeat with --page-token (\S+) \(or --all for every page\)\n", first.stderr).group(1)
    second = json.loads(cli(service, "ls", "--limit", "1", "--page-token", token, "--json").stdout)
    assert [item["id"] for item in second] == [newest[1]]
    everything = cli(service, "ls", "--all", "--json", "--limit", "1")
    assert [item["id"] for item in json.loads(everything.stdout)] == newest and everything.stderr == ""


def test_cli_sweep_wait_prints_its_table_and_page_then_compare(service: Service, tmp_path: Path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("name: cli-sweep\nbase:\n  model: {arch: mlp, depth: 4, width: 16, activation: tanh,"
                     " init: {scheme: normal}}\n  data: {input_dim: 8, samples: 64, batch_size: 16}\n"
                     "  training: {steps: 2}\ngrid:\n  model.init.weight_var: [0.5, 4.0]\n  model.bias: [true, false]\n")
    printed = cli(service, "sweep", str(sweep), "--wait", "--timeout", "180").stdout.splitlines()
    sweep_id = printed[0].split()[1]
    body = Client(service.url, service.token).get_sweep(sweep_id)
    assert printed[0] == f"sweep {sweep_id}  succeeded 4" and body.counts == {"succeeded": 4}
    assert printed[1].split() == ["INDEX", *body.raw["axes"], "EXPERIMENT", "STATUS", "VERDICT", "SIGNAL", "RATIO"]
    for line, row in zip(printed[2:-1], body.table, strict=True):
        values = [json.dumps(row["values"][axis]) for axis in body.raw["axes"]]
        assert line.split()[:len(values) + 3] == [str(row["index"]), *values, row["experiment_id"], "succeeded"]
    assert printed[-1] == f"web page: {service.url}/sweeps/{sweep_id}"
    page = requests.get(f"{service.url}/sweeps/{sweep_id}", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and "/login" in page.headers["Location"]  # a real page, behind the sign-in

    ids = [row["experiment_id"] for row in body.table]
    bias = [row["values"]["model.bias"] for row in body.table]
    weight_var = [row["values"]["model.init.weight_var"] for row in body.table]
    compared = json.loads(cli(service, "compare", *ids, "--json").stdout)
    assert compared["ids"] == ids and compared["spec_differences"] == {"model.bias": bias, "model.init.weight_var": weight_var}
    text = cli(service, "compare", *ids).stdout.splitlines()
    assert text[-4].startswith("spec fields that differ") and text[-3].split() == ["FIELD", *ids]
    assert text[-2].split() == ["model.bias", *(json.dumps(b) for b in bias)]
    assert text[-1].split() == ["model.init.weight_var", *(json.dumps(w) for w in weight_var)]
    assert "True" not in "\n".join(text) and "False" not in "\n".join(text)


def test_client_pages_through_sweeps_and_tokens(service: Service):
    client = Client(service.url, service.token)
    made = [client.sweep({"name": f"paged-{n}", "base": SMALL_SIGMOID, "seeds": [n]}).id for n in range(3)]
    seen, token = [], None
    while True:
        sweeps, token = client.sweep_page(limit=1, page_token=token)
        assert len(sweeps) <= 1
        seen += [sweep.id for sweep in sweeps]
        if token is None:
            break
    assert [sweep_id for sweep_id in seen if sweep_id in made] == made[::-1] and len(seen) == len(set(seen))
    for n in range(2):
        requests.post(f"{service.url}/api/v1/tokens", json={"name": f"paged-{n}"}, headers=service.headers, timeout=10)
    first, token = client.token_page(limit=2)
    assert len(first) == 2 and token is not None
    rest, last = client.token_page(limit=200, page_token=token)
    names = [item["name"] for item in first + rest]
    assert last is None and names[-2:] == ["paged-0", "paged-1"] and len(names) == len(set(item["id"] for item in first + rest))
