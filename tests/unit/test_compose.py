"""docker-compose.yml validated offline by Debian's docker-compose (no engine
runs on these machines), and checked against the production shape."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.support import ROOT


@pytest.fixture(scope="module")
def compose() -> dict:
    if shutil.which("docker-compose") is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed, but CI must validate the compose file")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run(["docker-compose", "config"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)  # type: ignore[no-any-return]


def test_it_has_the_production_shape(compose):
    assert {"postgres", "redis", "migrate", "api", "worker-cpu", "worker-gpu", "scheduler", "flower"} <= set(compose["services"])


def test_redis_keeps_an_append_only_file_and_postgres_a_volume_and_health_check(compose):
    redis, postgres = compose["services"]["redis"], compose["services"]["postgres"]
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert any("/var/lib/postgresql/data" in str(volume) for volume in postgres["volumes"])
    assert "pg_isready" in str(postgres["healthcheck"]["test"])


def test_services_use_the_real_components_and_wait_for_the_migration(compose):
    for name in ("api", "worker-cpu", "worker-gpu", "scheduler"):
        service = compose["services"][name]
        assert service["environment"]["GRADATLAS_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert service["environment"]["GRADATLAS_BROKER_URL"].startswith("redis://")
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert compose["services"]["migrate"]["command"] == ["gradatlas", "migrate"]
    assert "gunicorn" in " ".join(compose["services"]["api"]["command"]) and "gradatlas.service.api.wsgi:app" in " ".join(compose["services"]["api"]["command"])
    assert compose["services"]["api"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]


def test_gpu_worker_reserves_a_device_and_recycles_its_children(compose):
    gpu = compose["services"]["worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    command = gpu["command"]
    assert command[command.index("--queues") + 1] == "gpu" and "--max-tasks-per-child" in command


def test_the_commands_name_modules_that_exist():
    import importlib

    for module in ("gradatlas.service.api.wsgi", "gradatlas.worker.celery_app", "gradatlas.service.cli.main"):
        assert importlib.util.find_spec(module) is not None


def _extras(service: dict) -> set[str]:
    return set(service["build"]["args"]["EXTRAS"].split(","))


def test_each_image_installs_only_what_its_services_run(compose):
    """The API's image has no PyTorch; the workers' has no web server."""
    services = compose["services"]
    for name in ("api", "migrate"):
        assert _extras(services[name]) == {"server"}, name
    for name in ("worker-cpu", "worker-gpu", "scheduler", "flower"):
        assert _extras(services[name]) == {"worker"}, name
    images = {name: services[name]["image"] for name in ("api", "worker-cpu", "worker-gpu")}
    assert len(set(images.values())) == 3, images


def test_the_dockerfile_installs_torch_only_for_the_worker():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG EXTRAS=server" in dockerfile and "'.[$EXTRAS]'" not in dockerfile and '".[$EXTRAS]"' in dockerfile
    torch_line = next(line for line in dockerfile.splitlines() if "torch==" in line)
    assert "*,worker,*" in torch_line
    assert "COPY gradatlas ./gradatlas" in dockerfile and "setup.py" in dockerfile
