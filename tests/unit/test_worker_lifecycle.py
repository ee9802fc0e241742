"""The one place a run's and a batch's failures are classified (worker/lifecycle.py)."""

from __future__ import annotations

import pytest
import torch
from gradatlas.worker.lifecycle import failure_reason


@pytest.mark.parametrize("exc, reason", [
    (MemoryError("host"), "oom"),
    (torch.OutOfMemoryError("CUDA out of memory"), "oom"),
    (RuntimeError("shape mismatch"), "error"),
    (ValueError("bad"), "error"),
])
def test_out_of_memory_on_the_host_or_the_device_is_oom_and_anything_else_an_error(exc, reason):
    assert failure_reason(exc) == reason
