"""DESIGN.md's import rule: an API node needs no PyTorch; the engine is a
library that knows nothing of Flask, Celery or SQLAlchemy."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_the_service_never_imports_torch_or_the_worker():
    loaded = _modules_after("import service.api, service.cli, service.store, service.queue, service.supervisor, service.wsgi")
    assert "torch" not in loaded
    assert not any(name == "worker" or name.startswith("worker.") for name in loaded)


def test_the_engine_imports_no_web_queue_or_database_code():
    loaded = _modules_after("import worker.engine")
    assert "torch" in loaded
    assert not {"flask", "celery", "sqlalchemy"} & loaded


def test_loading_the_worker_app_never_initialises_cuda():
    """A forked pool child must not inherit CUDA state from its parent."""
    code = ("import worker.celery_app, worker.tasks, torch; "
            "print(torch.cuda.is_initialized())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
