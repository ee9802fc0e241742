"""The real worker app with one injected fault: an experiment whose name
starts with `oom` raises MemoryError inside the engine, as a real
out-of-memory would. Started with `celery -A tests.faults.faulty_app worker`."""

from __future__ import annotations

from typing import Any

import gradatlas.worker.tasks as tasks
from gradatlas.worker.celery_app import app

_real_engine = tasks.run_engine


def _engine_with_oom(spec: Any, on_step: Any = None) -> Any:
    if spec.name.startswith("oom"):
        buffers = [bytearray(1024 * 1024) for _ in range(8)]  # some real allocation first
        del buffers
        raise MemoryError("injected: could not allocate the activations")
    return _real_engine(spec, on_step=on_step)


tasks.run_engine = _engine_with_oom

__all__ = ["app"]
