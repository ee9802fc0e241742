"""One `gradatlas up` per test module for the CLI, client and browser tests:
starting the whole stack takes seconds, and these tests only add experiments
of their own (they never depend on an empty history). Module scope, not
session: an idle stack left running would slow the other e2e tests' own. Embedded defaults, or a fresh
PostgreSQL database and a flushed Redis database when CI names them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support import (
    SERVICES_BROKER_URL,
    SERVICES_DATABASE_URL,
    free_port,
    fresh_broker,
    fresh_database,
    service_env,
    services_configured,
    stop_process,
    wait_for,
)

SMALL_SIGMOID = {
    "name": "small-deep-sigmoid", "tags": ["e2e"],
    "model": {"arch": "mlp", "depth": 10, "width": 32, "activation": "sigmoid",
              "init": {"scheme": "normal", "weight_var": 1.0}},
    "data": {"name": "gaussian", "input_dim": 16, "samples": 256, "batch_size": 32},
    "training": {"steps": 20, "lr": 0.1}, "probe": {"every": 10},
}


@dataclass
class Service:
    url: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def env(self) -> dict[str, str]:
        """What a user's shell would hold to reach this service."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADATLAS_")}
        return {**env, "GRADATLAS_URL": self.url, "GRADATLAS_HOME": str(self.home)}

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with started_service(tmp_path_factory.mktemp("up-shared")) as running:
        yield running


@contextmanager
def started_service(tmp: Path, **settings: object) -> Iterator[Service]:
    """`gradatlas up` as a subprocess in `tmp`, ready to answer; stopped
    afterwards. `settings`: GRADATLAS_* values beyond the test defaults."""
    with fresh_database(tmp, SERVICES_DATABASE_URL) as database_url:
        broker_url = fresh_broker(tmp, SERVICES_BROKER_URL)
        home, port = tmp / "home", free_port()
        urls = (database_url, broker_url) if services_configured() else ("", "")
        env = service_env(home, *urls, **{"heartbeat_interval_s": 0.5, **settings})
        log = tmp / "up.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([str(Path(sys.executable).parent / "gradatlas"), "up", "--port", str(port)],
                                       cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        running = Service(f"http://127.0.0.1:{port}", home, process, log)
        try:
            wait_for(lambda: _ready(running), timeout=90, what=f"gradatlas up to answer:\n{running.output()[-2000:]}")
            yield running
        finally:
            stop_process(process, grace=30)


def _ready(service: Service) -> bool:
    assert service.process.poll() is None, service.output()[-3000:]
    try:
        return requests.get(service.url + "/readyz", timeout=5).status_code == 200
    except requests.RequestException:  # refused while starting, or slow on a loaded machine: ask again
        return False


def route_exists(service: Service, method: str, path: str) -> bool:
    """False while a route is not served by this build: the router's
    own 404 ("requested URL was not found") or 405, not a missing resource."""
    response = requests.request(method, service.url + path, headers=service.headers, timeout=10)
    if response.status_code == 405:
        return False
    return not (response.status_code == 404 and "requested URL was not found" in response.text)
