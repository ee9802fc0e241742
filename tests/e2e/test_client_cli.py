"""The Python client and the `gradatlas` CLI against a real `gradatlas up`:
what a user types, what they get back, and the exit codes scripts rely on."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gradatlas.service.client import Client, GradAtlasError

from tests.e2e.conftest import SMALL_SIGMOID, Service, route_exists

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


def test_cli_exit_codes_validation_cancel_and_failure(service: Service, tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": {"arch": "mlp", "depth": 3, "width": 8, "activation": "tanh", "colour": "red"}}))
    result = cli(service, "submit", str(bad), check=False)
    assert result.returncode == 1 and "422" in result.stderr and "colour" in result.stderr
    result = cli(service, "submit", str(bad), "--json", check=False)
    assert result.returncode == 1 and json.loads(result.stderr)["error"]["code"] == "validation_error"

    long = tmp_path / "long.json"
    long.write_text(json.dumps({**SMALL_SIGMOID, "name": "to-cancel", "training": {"steps": 100000}, "probe": {"every": 1000}}))
    experiment_id = cli(service, "submit", str(long)).stdout.split()[0]
    assert "cancel" in cli(service, "cancel", experiment_id).stdout  # cancelled, or flagged while running
    client = Client(service.url, service.token)
    assert client.wait(experiment_id, timeout=60, interval=0.2).status == "cancelled"
    shown = cli(service, "show", experiment_id, check=False)
    assert shown.returncode == 0 and "cancelled" in shown.stdout

    waited = subprocess.run([GRADATLAS, "submit", str(long), "--json", "--wait", "--timeout", "0.5"], env=service.env,
                            capture_output=True, text=True, timeout=60)
    assert waited.returncode != 0  # timed out waiting: not a success
    client.cancel(next(client.list(max_items=1)).id)

    unreachable = subprocess.run([GRADATLAS, "ls", "--url", "http://127.0.0.1:9"], env=service.env, capture_output=True, text=True)
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


def test_cli_sweep_and_compare_once_the_history_routes_exist(service: Service, tmp_path: Path):
    if not route_exists(service, "GET", "/api/v1/sweeps/none"):
        pytest.skip("GET /api/v1/sweeps/{id} is not served by this build")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("name: cli-sweep\nbase:\n  model: {arch: mlp, depth: 4, width: 16, activation: tanh,"
                     " init: {scheme: normal}}\n  data: {input_dim: 8, samples: 64, batch_size: 16}\n"
                     "  training: {steps: 2}\ngrid:\n  model.init.weight_var: [0.5, 4.0]\n")
    body = json.loads(cli(service, "sweep", str(sweep), "--wait", "--json", "--timeout", "180").stdout)
    assert sum(body["counts"].values()) == 2 and body["counts"].get("succeeded") == 2
    ids = [row.get("experiment_id") or row.get("id") for row in body["table"]]
    compared = json.loads(cli(service, "compare", *ids, "--json").stdout)
    assert compared
