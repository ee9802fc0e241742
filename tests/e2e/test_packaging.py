"""What `pip install gradatlas` gives a user: a wheel whose only top-level name
is `gradatlas`, a base install with the client and the remote CLI and none of
the server's or the worker's packages, and extras named for who installs them.
The wheel is built from this checkout and installed into a fresh virtualenv,
then used against a real `gradatlas up`."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_SIGMOID, Service
from tests.support import ROOT

HEAVY = {"torch", "flask", "celery", "sqlalchemy", "psycopg", "gunicorn", "matplotlib", "alembic", "kombu"}


@dataclass
class Venv:
    path: Path

    def bin(self, name: str) -> str:
        return str(self.path / "bin" / name)

    def run(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (built,) = out.glob("gradatlas-*.whl")
    return built


@pytest.fixture(scope="module")
def client_only(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """A fresh virtualenv with `pip install gradatlas`, no extras."""
    venv = Venv(tmp_path_factory.mktemp("client-venv") / "venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True, timeout=120)
    installed = venv.run(venv.bin("python"), "-m", "pip", "install", "--quiet", str(wheel))
    assert installed.returncode == 0, installed.stderr[-3000:]
    yield venv


def test_the_wheels_only_top_level_name_is_gradatlas(wheel: Path):
    names = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert names == {"gradatlas", wheel.name.split("-py3")[0] + ".dist-info"}


def test_the_wheel_carries_the_data_its_services_read(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "gradatlas/migrations/script.py.mako" in names
    assert "gradatlas/service/web/templates/base.html" in names
    assert "gradatlas/service/web/static/plotly-cartesian.min.js" in names
    assert any(name.startswith("gradatlas/migrations/versions/0001") for name in names)


def test_the_base_install_is_light(client_only: Venv):
    listed = client_only.run(client_only.bin("python"), "-m", "pip", "list", "--format", "json")
    installed = {package["name"].lower().replace("_", "-") for package in json.loads(listed.stdout)}
    assert "gradatlas" in installed
    assert not HEAVY & installed, HEAVY & installed


def test_extras_are_named_for_who_installs_them():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    def names(requirements: list[str]) -> set[str]:
        return {req.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower() for req in requirements}
    base, extras = names(project["dependencies"]), project["optional-dependencies"]
    assert not HEAVY & base
    assert "torch" in names(extras["probe"]) and not {"flask", "celery", "sqlalchemy"} & names(extras["probe"])
    assert {"flask", "gunicorn", "sqlalchemy"} <= names(extras["server"]) and "torch" not in names(extras["server"])
    assert {"celery", "torch", "sqlalchemy"} <= names(extras["worker"]) and not {"flask", "gunicorn"} & names(extras["worker"])


def test_the_client_and_the_remote_cli_work_from_the_base_install(client_only: Venv, service: Service, tmp_path: Path):
    """From a user's own project folder, which holds a worker.py and a service.py of its own."""
    (tmp_path / "worker.py").write_text("raise SystemExit('the user worker.py was imported')\n")
    (tmp_path / "service.py").write_text("raise SystemExit('the user service.py was imported')\n")
    code = ("import os, sys\nfrom gradatlas import Client, GradAtlasError\n"
            f"client = Client({service.url!r}, {service.token!r})\n"
            f"done = client.wait(client.submit({SMALL_SIGMOID!r}).id, timeout=120, interval=0.2)\n"
            "print(done.id, done.status, done.summary['verdict'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'flask', 'sqlalchemy', 'celery')))\n")
    ran = client_only.run(client_only.bin("python"), "-c", code, cwd=tmp_path, env=service.env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    first, second = ran.stdout.splitlines()
    experiment_id, status, verdict = first.split()
    assert (status, verdict) == ("succeeded", "vanishing") and second == "[]"

    listed = client_only.run(client_only.bin("gradatlas"), "ls", "--json", cwd=tmp_path, env=service.env)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert experiment_id in {item["id"] for item in json.loads(listed.stdout)}


def test_what_needs_an_extra_says_which(client_only: Venv, service: Service, tmp_path: Path):
    probe = client_only.run(client_only.bin("python"), "-c", "from gradatlas import GradientProbe", cwd=tmp_path)
    assert probe.returncode != 0 and "pip install 'gradatlas[probe]'" in probe.stderr

    up = client_only.run(client_only.bin("gradatlas"), "up", cwd=tmp_path, env=service.env)
    assert up.returncode == 1 and "Traceback" not in up.stderr
    assert up.stderr.strip().endswith("pip install 'gradatlas[server]'"), up.stderr


def test_the_full_install_gives_the_probe(tmp_path: Path):
    (tmp_path / "worker.py").write_text("raise SystemExit('the user worker.py was imported')\n")
    code = "from gradatlas import GradientProbe, loop_layers; print(GradientProbe.__module__)"
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ran.stdout.strip() == "gradatlas.worker.engine.probe", ran.stderr[-2000:]
