"""`gradatlas up` as a user starts it: a subprocess in a temp home, driven
over HTTP with the token it wrote, on the embedded defaults (or PostgreSQL +
Redis when CI names them)."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from gradatlas.worker.threads import default_count

from tests.e2e.conftest import Service, started_service
from tests.support import wait_for

DEEP_SIGMOID = {
    "name": "deep-sigmoid", "tags": ["e2e"],
    "model": {"arch": "mlp", "depth": 24, "width": 64, "activation": "sigmoid",
              "init": {"scheme": "normal", "weight_var": 1.0}},
    "data": {"name": "gaussian", "input_dim": 32, "samples": 512, "batch_size": 64},
    "training": {"steps": 30, "lr": 0.1}, "probe": {"every": 10},
}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Service]:
    """A `gradatlas up` of this test's own: these tests kill and stop it."""
    with started_service(tmp_path) as service:
        yield service


def _wait_terminal(server: Service, experiment_id: str, timeout: float = 180) -> dict:
    def poll() -> dict | None:
        body = requests.get(f"{server.url}/api/v1/experiments/{experiment_id}", headers=server.headers, timeout=5).json()
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(poll, timeout=timeout, interval=0.2, what=f"experiment {experiment_id}:\n{server.output()[-3000:]}")


def test_submit_poll_and_read_back_a_deep_sigmoid_over_http(running: Service):
    token_file = running.home / "token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert requests.post(f"{running.url}/api/v1/experiments", json=DEEP_SIGMOID, timeout=5).status_code == 401

    response = requests.post(f"{running.url}/api/v1/experiments", json=DEEP_SIGMOID, headers=running.headers, timeout=5)
    assert response.status_code == 202, response.text
    done = _wait_terminal(running, response.json()["id"])
    assert done["status"] == "succeeded", done
    assert done["summary"]["verdict"] == "vanishing" and done["summary"]["signal_ratio_init"] < 1e-3
    if "OMP_NUM_THREADS" not in os.environ:  # else torch follows the shell's choice
        assert done["environment"]["torch_threads"] == default_count(len(os.sched_getaffinity(0)), 1)  # up's one pool process

    location = running.url + response.headers["Location"]
    profile = requests.get(location + "/profile", headers=running.headers, timeout=5).json()
    assert len(profile["layers"]) == 25 and profile["steps"] == [0, 10, 20, 29]
    signal_at_init = profile["metrics"]["signal_norm"][0]
    assert signal_at_init[0] < 1e-3 * signal_at_init[23]

    metrics = requests.get(running.url + "/metrics", timeout=5).text
    assert 'gradatlas_experiments{status="succeeded"} 1.0' in metrics
    assert 'gradatlas_http_requests_total{method="POST",route="/api/v1/experiments",status="202"} 1.0' in metrics
    assert "gradatlas_run_duration_seconds_count 1.0" in metrics

    rows = list(csv.DictReader(io.StringIO(requests.get(location + "/profile?format=csv", headers=running.headers, timeout=5).text)))
    grad = [row for row in rows if row["metric"] == "grad_norm" and row["step"] == "0"]
    assert len(grad) == 25 and float(grad[0]["value"]) == pytest.approx(profile["metrics"]["grad_norm"][0][0], rel=1e-6)


def test_a_dead_worker_is_restarted_and_sigterm_stops_everything(running: Service):
    worker_pid = int(re.findall(r"started worker \(pid (\d+)\)", running.output())[-1])
    os.killpg(worker_pid, signal.SIGKILL)
    wait_for(lambda: len(re.findall(r"started worker", running.output())) >= 2, timeout=30, what="the worker restart")
    spec = {**DEEP_SIGMOID, "model": {**DEEP_SIGMOID["model"], "depth": 3}, "training": {"steps": 5}}
    response = requests.post(f"{running.url}/api/v1/experiments", json=spec, headers=running.headers, timeout=5)
    assert _wait_terminal(running, response.json()["id"])["status"] == "succeeded"

    started = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 30
    assert "stopped" in running.output()
    with pytest.raises(requests.ConnectionError):
        requests.get(running.url + "/healthz", timeout=2)


def test_submits_racing_the_worker_for_the_embedded_queue_are_all_published(running: Service):
    """Several API processes and the worker create kombu's queue row on first use;
    losing that race must not leave a job waiting for the sweeper."""
    spec = {**DEEP_SIGMOID, "model": {**DEEP_SIGMOID["model"], "depth": 2}, "training": {"steps": 0}}
    ids = [requests.post(f"{running.url}/api/v1/experiments", json=spec, headers=running.headers, timeout=10).json()["id"]
           for _ in range(6)]
    for experiment_id in ids:
        assert _wait_terminal(running, experiment_id, timeout=30)["status"] == "succeeded"
    assert "could not publish" not in running.output()


def test_gunicorns_control_socket_is_this_homes_and_a_clean_stop_logs_no_error(running: Service):
    """One control socket per `gradatlas up` (gunicorn's default, one per user
    account, would be shared by every service on the host), answering for
    this service's workers; and stopping a service that has run a job logs no
    ERROR (a pool process signalled directly did)."""
    spec = {**DEEP_SIGMOID, "model": {**DEEP_SIGMOID["model"], "depth": 3}, "training": {"steps": 5}}
    response = requests.post(f"{running.url}/api/v1/experiments", json=spec, headers=running.headers, timeout=5)
    assert _wait_terminal(running, response.json()["id"])["status"] == "succeeded"

    control = running.home / "gunicorn.ctl"
    wait_for(control.is_socket, timeout=10, what=f"{control}")
    gunicornc = Path(sys.executable).parent / "gunicornc"
    shown = subprocess.run([str(gunicornc), "-s", str(control), "-c", "show workers"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "Total: 2 workers" in shown.stdout, shown.stdout + shown.stderr

    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=30) == 0
    output = running.output()
    assert "stopped" in output and not control.exists()
    assert not [line for line in output.splitlines() if "ERROR" in line or '"level": "error"' in line], output[-3000:]
