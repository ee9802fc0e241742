"""What a single run (tasks.py) and a batch of sweep points (batch.py) share
about a claimed experiment's life: the store, the heartbeat thread that keeps
a lease, and how a claim ends (succeeded, stopped, or failed with a reason).

Kept apart from both so that each ending is written once and the two task
modules need nothing from each other's insides.
"""

from __future__ import annotations

import logging
import socket
import threading
from functools import lru_cache
from typing import Any, Self

import torch
from gradatlas.service.contracts.resources import Claim, Heartbeat
from gradatlas.service.contracts.settings import Settings, get_settings
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.science.remedies import suggest as suggest_remedies
from gradatlas.service.science.theory import predict
from gradatlas.service.store.gateway import Store
from gradatlas.worker.engine import RunResult, summarise

import gradatlas

log = logging.getLogger("gradatlas.worker")


class StopRun(Exception):
    """Raised from the engine's step callback to stop a run early."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@lru_cache(maxsize=1)
def store() -> Store:
    """One store per process, made on first use: after the pool forks, so no
    connection is shared between processes."""
    return Store.from_url(get_settings().database_url)


class HeartbeatThread:
    """Runs `_beat` every `interval` seconds from a daemon thread while the
    `with` block runs, so a long step cannot starve the lease renewal."""

    interval: float

    def __enter__(self) -> Self:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._every_interval, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _every_interval(self) -> None:
        while not self._done.wait(self.interval):
            self._beat()

    def _beat(self) -> None:
        raise NotImplementedError

    def _renew(self, claim: Claim, step: int, total: int) -> Heartbeat | None:
        """The claim's heartbeat, or None when the database blinked (tried again next beat)."""
        try:
            return store().heartbeat(claim, step, total)
        except Exception as exc:
            log.warning("heartbeat for %s failed: %s", claim.experiment_id, exc)
            return None


def environment() -> dict[str, Any]:
    """Where the run ran; `torch_threads` shows the worker's thread setting took (worker/threads.py)."""
    return {"worker": socket.gethostname(), "gradatlas": gradatlas.__version__, "torch_threads": torch.get_num_threads()}


def failure_reason(exc: BaseException) -> str:
    """`oom` for the host's or the device's out-of-memory (torch's OutOfMemoryError
    is matched by name: it only exists in CUDA builds), `error` for anything else."""
    return "oom" if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" else "error"


def fail(claim: Claim, exc: BaseException) -> str:
    """Record the worker's own fault on the claim, so the job is never lost; returns the reason."""
    reason = failure_reason(exc)
    store().finish(claim, "failed", reason, f"{type(exc).__name__}: {exc}")
    return reason


def complete(claim: Claim, spec: ExperimentSpec, result: RunResult, settings: Settings) -> str:
    """Summary (with the theory), profile and `succeeded`, guarded by the lease."""
    theory = mean_field_theory(spec)
    summary = summarise(result.steps, result.loss, result.accuracy, result.metrics, n_hidden=len(result.layers) - 1,
                        vanishing_threshold=settings.vanishing_threshold, exploding_threshold=settings.exploding_threshold,
                        theory_gain=theory["gain"] if theory else None)
    summary["remedies"] = suggest_remedies(spec, summary, result.metrics)
    profile = {"layers": result.layers, "steps": result.steps, "loss": result.loss, "accuracy": result.accuracy,
               "metrics": result.metrics, "theory": theory, "total_steps": spec.training.steps}
    if not store().complete(claim, profile, summary, {**environment(), **result.environment}):
        return "lease lost before the result was written; discarded"
    return f"succeeded ({summary.get('verdict')})"


def mean_field_theory(spec: ExperimentSpec) -> dict[str, Any] | None:
    """The prediction where the theory applies: a plain `mlp` with the mean-field
    (`normal`) initialisation, zero-mean biases and no normalisation."""
    model = spec.model
    if model.arch != "mlp" or model.init.scheme != "normal" or model.norm != "none" or model.init.bias_mean != 0:
        return None
    return predict(model.activation, model.init.weight_var, model.init.bias_var if model.bias else 0.0).to_dict()


def stopped(claim: Claim, reason: str, spec: ExperimentSpec) -> str:
    """End a claim stopped early: a lost lease is left to its new owner, a cancel
    and a timeout are recorded."""
    if reason == "lease_lost":
        return "lease lost: another attempt owns it now"
    if reason == "cancelled":
        store().finish(claim, "cancelled", "cancelled")
        return "cancelled"
    store().finish(claim, "failed", "timeout", f"exceeded the time limit of {spec.time_limit_s or get_settings().time_limit_s:g} s")
    return "failed (timeout)"
