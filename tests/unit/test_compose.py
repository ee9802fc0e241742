"""docker-compose.yml validated offline by Debian's docker-compose (no engine
runs on these machines), and checked against the production shape."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT

SECRETS = {"GRADATLAS_PEPPER": "pepper-from-the-operator", "POSTGRES_PASSWORD": "password-from-the-operator",
           "FLOWER_PASSWORD": "flower-from-the-operator"}
WORKER_NODES = {"worker-cpu": "worker-cpu", "worker-gpu": "worker-gpu", "scheduler": "scheduler"}


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed, but CI must validate the compose file")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    return path


def compose_config(tmp: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with exactly these variables: none from this
    shell, and an empty env file in place of a .env the checkout may hold."""
    empty = tmp / "empty.env"
    empty.write_text("")
    env = {name: value for name, value in os.environ.items() if name not in SECRETS and not name.startswith("FLOWER_")}
    env.pop("GRADATLAS_GPU_QUEUE", None)
    return subprocess.run([_docker_compose(), "--env-file", str(empty), "config"], cwd=ROOT, capture_output=True,
                          text=True, env={**env, **variables})


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = compose_config(tmp_path_factory.mktemp("compose"), **SECRETS)
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


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_each_secret(tmp_path, missing):
    """No default pepper or password: a stack started without one would sign
    cookies and hash tokens with a value everyone knows."""
    result = compose_config(tmp_path, **{name: value for name, value in SECRETS.items() if name != missing})
    assert result.returncode != 0 and missing in result.stderr, result.stderr


def test_the_secrets_reach_the_services_and_nothing_is_hard_coded(compose):
    services = compose["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    for name in ("migrate", "api", "worker-cpu", "worker-gpu", "scheduler", "flower"):
        environment = services[name]["environment"]
        assert environment["GRADATLAS_PEPPER"] == SECRETS["GRADATLAS_PEPPER"], name
        assert f"gradatlas:{SECRETS['POSTGRES_PASSWORD']}@postgres:5432/" in environment["GRADATLAS_DATABASE_URL"], name
    assert "change-me" not in yaml.safe_dump(compose)


def test_default_jobs_go_to_a_queue_a_default_deployment_consumes(compose, monkeypatch):
    """Without `--profile gpu` no worker consumes `gpu`, so the API must route
    "device": "auto" to `cpu`; only the API reads the setting."""
    from gradatlas.service.contracts.queue import queue_for
    from gradatlas.service.contracts.settings import Settings
    from gradatlas.service.contracts.spec import ExperimentSpec

    services = compose["services"]
    monkeypatch.setenv("GRADATLAS_GPU_QUEUE", services["api"]["environment"]["GRADATLAS_GPU_QUEUE"])
    spec = ExperimentSpec.model_validate({"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}})
    assert spec.device == "auto" and queue_for(spec, Settings()) == "cpu"
    gpu_consumers = [name for name, service in services.items()
                     if "gpu" in _option(service.get("command", []), "--queues").split(",")]
    assert gpu_consumers == ["worker-gpu"] and services["worker-gpu"]["profiles"] == ["gpu"]
    assert [name for name, service in services.items() if "GRADATLAS_GPU_QUEUE" in service.get("environment", {})] == ["api"]


def test_the_gpu_queue_is_switched_on_with_the_gpu_profile(tmp_path):
    result = compose_config(tmp_path, **SECRETS, GRADATLAS_GPU_QUEUE="true")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["services"]["api"]["environment"]["GRADATLAS_GPU_QUEUE"] == "true"


def test_flower_asks_for_a_password_and_listens_on_loopback_only(compose):
    flower = compose["services"]["flower"]
    user, _, password = flower["environment"]["FLOWER_BASIC_AUTH"].partition(":")
    assert user == "admin" and password == SECRETS["FLOWER_PASSWORD"]
    assert flower["ports"] and all(str(port).startswith("127.0.0.1:") for port in flower["ports"]), flower["ports"]


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1] if name in command else ""


def test_every_long_running_service_has_a_health_check(compose):
    long_running = [name for name, service in compose["services"].items() if service.get("restart") != "no"]
    assert {"api", "worker-cpu", "worker-gpu", "scheduler", "flower", "postgres", "redis"} <= set(long_running)
    for name in long_running:
        assert compose["services"][name].get("healthcheck", {}).get("test"), name
    assert "/healthcheck" in " ".join(compose["services"]["flower"]["healthcheck"]["test"])


@pytest.mark.parametrize("name", sorted(WORKER_NODES))
def test_each_celery_node_pings_itself(compose, name):
    """`inspect ping` without a destination answers while any node is up: each
    check names its own node, the --hostname it was started with."""
    service = compose["services"][name]
    assert _option(service["command"], "--hostname") == f"{WORKER_NODES[name]}@%h"
    check = " ".join(service["healthcheck"]["test"]).replace("$$", "$")
    assert "inspect ping" in check and f"--destination {WORKER_NODES[name]}@$HOSTNAME" in check


def test_the_images_run_as_an_unprivileged_user():
    instructions = [line.split(None, 1) for line in (ROOT / "Dockerfile").read_text().splitlines()
                    if line.strip() and not line.startswith((" ", "#"))]
    users = [args.strip() for keyword, *args in instructions for args in [" ".join(args)] if keyword == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), users
    keywords = [keyword for keyword, *_ in instructions]
    assert keywords.index("USER") < keywords.index("CMD")


def _context_files(root: Path) -> set[str]:
    """The files `docker build` sends for `root`, as docker-py (which
    docker-compose runs on) computes them from root/.dockerignore."""
    python = Path(_docker_compose()).read_text(errors="replace").splitlines()[0].removeprefix("#!").strip()
    script = ("import sys; from docker.utils.build import exclude_paths; "
              "lines = [l.strip() for l in open(sys.argv[1] + '/.dockerignore')]; "
              "print('\\n'.join(sorted(exclude_paths(sys.argv[1], [l for l in lines if l and not l.startswith('#')]))))")
    result = subprocess.run([python, "-c", script, str(root)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_the_build_context_leaves_out_local_state_and_test_artifacts(tmp_path):
    left_out = [".venv/bin/python", ".git/HEAD", ".gradatlas/token", ".gradatlas/pepper", ".env", ".pytest_cache/v/x",
                "service/__pycache__/x.pyc", "gradatlas.egg-info/PKG-INFO", "test-artifacts/junit.xml", ".coverage"]
    needed = ["Dockerfile", "setup.py", "pyproject.toml", "README.md", "alembic.ini", "service/api/wsgi.py",
              "worker/tasks.py", "gradatlas/__init__.py", "migrations/env.py", "examples/README.md"]
    for relative in left_out + needed:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    (tmp_path / ".dockerignore").write_text((ROOT / ".dockerignore").read_text())
    sent = _context_files(tmp_path)
    assert set(needed) <= sent, set(needed) - sent
    assert not set(left_out) & sent, set(left_out) & sent


def test_the_api_runs_gunicorn_with_the_limits_gradatlas_up_uses(compose):
    """gunicorn's limits sit above the service's, so 414/431 come from the service as JSON."""
    from gradatlas.service.cli.supervisor import GUNICORN_LIMITS

    command = " ".join(compose["services"]["api"]["command"])
    assert " ".join(GUNICORN_LIMITS) in command


def test_the_image_checks_readiness_and_pins_flower():
    """`docker run` without compose still reports health: both images' default
    command serves the API, so the image checks /readyz; the compose services
    that run something else override it (test above)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    check = dockerfile[dockerfile.index("HEALTHCHECK"):].split("\nCMD", 1)[0]
    assert "http://127.0.0.1:8000/readyz" in check and "--interval=" in check and "--timeout=" in check
    assert "pip install --no-cache-dir flower==" in dockerfile and "flower ;;" not in dockerfile
