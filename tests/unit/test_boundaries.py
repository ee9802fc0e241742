"""The import rules of docs/design.md: an API node needs no PyTorch; the engine
is a library that knows nothing of Flask, Celery or SQLAlchemy; every module has
one name (`gradatlas.…`), and the bare folder names never become modules."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

SERVICE_ENTRY_POINTS = ("gradatlas.service.api", "gradatlas.service.cli.main", "gradatlas.service.store.gateway",
                        "gradatlas.service.contracts.queue", "gradatlas.service.cli.supervisor", "gradatlas.service.api.wsgi")


def _modules_after(statement: str, cwd=ROOT) -> set[str]:  # type: ignore[no-untyped-def]
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def _bare(loaded: set[str]) -> set[str]:
    return {name for name in loaded if name.split(".")[0] in ("service", "worker", "migrations")}


def test_the_service_never_imports_torch_or_the_worker():
    loaded = _modules_after("import " + ", ".join(SERVICE_ENTRY_POINTS))
    assert "torch" not in loaded
    assert not any(name.startswith("gradatlas.worker") for name in loaded)


def test_the_engine_imports_no_web_queue_or_database_code():
    loaded = _modules_after("import gradatlas.worker.engine")
    assert "torch" in loaded
    assert not {"flask", "celery", "sqlalchemy"} & loaded


def test_the_public_package_is_light():
    """`pip install gradatlas` has no torch, Flask, Celery or SQLAlchemy: importing it must not need them."""
    loaded = _modules_after("import gradatlas; gradatlas.Client; gradatlas.GradAtlasError")
    assert not {"torch", "flask", "celery", "sqlalchemy", "psycopg", "gunicorn", "matplotlib"} & loaded


def test_no_module_is_importable_under_a_second_name():
    """Run from the repository root, where `service/` and `worker/` are folders on sys.path:
    everything, workers and migrations included, is still loaded only as gradatlas.*."""
    loaded = _modules_after("import gradatlas, gradatlas.worker.tasks, gradatlas.worker.batch, gradatlas.migrations, "
                            + ", ".join(SERVICE_ENTRY_POINTS) + "; gradatlas.GradientProbe")
    assert "gradatlas.worker.tasks" in loaded
    assert _bare(loaded) == set()


def test_the_folder_names_of_a_users_project_do_not_shadow_ours(tmp_path):
    (tmp_path / "worker.py").write_text("raise SystemExit('the user worker.py was imported')\n")
    (tmp_path / "service.py").write_text("raise SystemExit('the user service.py was imported')\n")
    loaded = _modules_after("import gradatlas; from gradatlas import GradientProbe, Client", cwd=tmp_path)
    assert "gradatlas.worker.engine.probe" in loaded


def test_loading_the_worker_app_never_initialises_cuda():
    """A forked pool child must not inherit CUDA state from its parent."""
    code = ("import gradatlas.worker.celery_app, gradatlas.worker.tasks, torch; "
            "print(torch.cuda.is_initialized())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_only_the_store_package_names_the_tables():
    """service/store/__init__.py: outside the store, only the history query's
    field whitelist and Alembic's env import the table models."""
    allowed = {"service/search/fields.py", "migrations/env.py"}
    offenders = []
    for folder in ("gradatlas", "service", "worker", "migrations"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            text = path.read_text()
            if name.startswith("service/store/") or name in allowed:
                continue
            if "store.tables" in text or "store import tables" in text:
                offenders.append(name)
    assert offenders == []
