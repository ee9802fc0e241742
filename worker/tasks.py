"""The thin adapter between the queue, the store and the engine (the only
module that joins the two sides).

A delivery only carries an id. The task claims the row with a lease, runs the
engine while a heartbeat thread renews the lease and picks up cancellation,
and writes the result in one transaction guarded by the lease. A duplicate
delivery finds nothing to claim and returns.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Self

import torch
from celery.exceptions import SoftTimeLimitExceeded
from gradatlas.service.auth.ratelimit import make_counter
from gradatlas.service.contracts.logs import experiment_id_var, request_id_var
from gradatlas.service.contracts.queue import RECOVER_TASK, RUN_TASK
from gradatlas.service.contracts.resources import Claim, Heartbeat, RecoveryReport
from gradatlas.service.contracts.settings import Settings, get_settings
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.science.remedies import suggest as suggest_remedies
from gradatlas.service.science.theory import predict
from gradatlas.service.store.gateway import Store
from gradatlas.worker.celery_app import app
from gradatlas.worker.engine import run_experiment as run_engine
from gradatlas.worker.engine import summarise

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


@dataclass
class Lease(HeartbeatThread):
    """Renews one run's claim; the run polls `stop_reason`."""

    claim: Claim
    interval: float
    total: int
    step: int = 0
    stop_reason: str | None = None

    def _beat(self) -> None:
        beat = self._renew(self.claim, self.step, self.total)
        if beat is None:
            return
        if not beat.alive:
            self.stop_reason = "lease_lost"
        elif beat.cancel_requested:
            self.stop_reason = "cancelled"


def _environment() -> dict[str, Any]:
    """Where the run ran; `torch_threads` shows the worker's thread setting took (worker/threads.py)."""
    return {"worker": socket.gethostname(), "gradatlas": gradatlas.__version__, "torch_threads": torch.get_num_threads()}


@app.task(name=RUN_TASK, bind=True)
def run_experiment(self: Any, experiment_id: str) -> None:
    experiment_id_var.set(experiment_id)
    request_id_var.set(self.request.get("request_id"))
    settings = get_settings()
    claim = store().claim(experiment_id, _environment())
    if claim is None:
        log.info("experiment %s is not queued (a duplicate delivery, or cancelled): nothing to do", experiment_id)
        return
    log.info("experiment %s claimed, attempt %d", experiment_id, claim.attempt)
    spec = ExperimentSpec.model_validate(claim.spec)
    limit = spec.time_limit_s or settings.time_limit_s
    with Lease(claim, settings.heartbeat_interval_s, spec.training.steps) as lease:
        outcome = _run(claim, spec, lease, time.monotonic() + limit, settings)
    log.info("experiment %s: %s", experiment_id, outcome)


def _run(claim: Claim, spec: ExperimentSpec, lease: Lease, deadline: float, settings: Settings) -> str:
    def on_step(done: int, total: int) -> None:
        lease.step, lease.total = done, total
        if lease.stop_reason:
            raise StopRun(lease.stop_reason)
        if time.monotonic() > deadline:
            raise StopRun("timeout")

    try:
        result = run_engine(spec, on_step=on_step)
    except StopRun as stop:
        return _stopped(claim, stop.reason, spec)
    except SoftTimeLimitExceeded:
        return _stopped(claim, "timeout", spec)
    except Exception as exc:  # the worker's own fault: record it, never lose the job
        reason = "oom" if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" else "error"
        log.exception("experiment %s failed (%s)", claim.experiment_id, reason)
        store().finish(claim, "failed", reason, f"{type(exc).__name__}: {exc}")
        return f"failed ({reason})"
    return _complete(claim, spec, result, settings)


def _complete(claim: Claim, spec: ExperimentSpec, result: Any, settings: Settings) -> str:
    """Summary (with the theory), profile and `succeeded`, guarded by the lease."""
    theory = mean_field_theory(spec)
    summary = summarise(result.steps, result.loss, result.accuracy, result.metrics, n_hidden=len(result.layers) - 1,
                        vanishing_threshold=settings.vanishing_threshold, exploding_threshold=settings.exploding_threshold,
                        theory_gain=theory["gain"] if theory else None)
    summary["remedies"] = suggest_remedies(spec, summary, result.metrics)
    profile = {"layers": result.layers, "steps": result.steps, "loss": result.loss, "accuracy": result.accuracy,
               "metrics": result.metrics, "theory": theory, "total_steps": spec.training.steps}
    environment = {**_environment(), **result.environment}
    if not store().complete(claim, profile, summary, environment):
        return "lease lost before the result was written; discarded"
    return f"succeeded ({summary.get('verdict')})"


def mean_field_theory(spec: ExperimentSpec) -> dict[str, Any] | None:
    """The prediction where the theory applies: a plain `mlp` with the mean-field
    (`normal`) initialisation, zero-mean biases and no normalisation."""
    model = spec.model
    if model.arch != "mlp" or model.init.scheme != "normal" or model.norm != "none" or model.init.bias_mean != 0:
        return None
    return predict(model.activation, model.init.weight_var, model.init.bias_var if model.bias else 0.0).to_dict()


def _stopped(claim: Claim, reason: str, spec: ExperimentSpec) -> str:
    if reason == "lease_lost":
        return "lease lost: another attempt owns it now"
    if reason == "cancelled":
        store().finish(claim, "cancelled", "cancelled")
        return "cancelled"
    store().finish(claim, "failed", "timeout", f"exceeded the time limit of {spec.time_limit_s or get_settings().time_limit_s:g} s")
    return "failed (timeout)"


def _count_recovery_actions(settings: Settings, report: RecoveryReport) -> None:
    """Totals shared with the API's /metrics (a counter must outlive this
    process), under their first keys, `sweeper:…`, so totals so far still count."""
    counter = make_counter(settings.broker_url, settings.home)
    for action, ids in (("republished", report.republish), ("requeued", report.requeued), ("failed", report.failed)):
        if ids:
            counter.increment(f"sweeper:{action}", 0, len(ids))


@app.task(name=RECOVER_TASK)
def recover() -> dict[str, int]:
    """Recover lost work (DESIGN.md, step 5): publish again what may have been
    lost, requeue what a dead worker held, fail what keeps dying."""
    settings = get_settings()
    report = store().recover(settings.requeue_after_s, settings.stale_after_s, settings.max_attempts)
    for experiment_id, queue in report.republish:
        app.send_task(RUN_TASK, args=[experiment_id], queue=queue)
        store().mark_published(experiment_id)
    _count_recovery_actions(settings, report)
    if report.republish or report.failed:
        log.info("recovery: republished %d, requeued %d, failed %d",
                 len(report.republish), len(report.requeued), len(report.failed))
    return {"republished": len(report.republish), "requeued": len(report.requeued), "failed": len(report.failed)}


from gradatlas.service.contracts.queue import BATCH_TASK  # noqa: E402  (kept apart: the batch task is issue 4's)


@app.task(name=BATCH_TASK)
def run_batch(experiment_ids: list[str]) -> None:
    """Same-shaped sweep points as one vectorised model (worker/engine/batched.py).

    Each row is still claimed with its own lease, heartbeated, and completed
    with its own profile under that lease; a row that is no longer queued (a
    duplicate delivery, a cancel) is simply not in the batch. Points that
    cannot batch after all run one by one through run_experiment.
    """
    from gradatlas.worker.batch import run_claimed_batch

    specs = {}
    for experiment_id in experiment_ids:
        experiment = store().get_experiment(experiment_id)
        if experiment is not None and experiment.status == "queued":
            specs[experiment_id] = ExperimentSpec.model_validate(experiment.spec)
    from gradatlas.worker.engine.batched import can_batch

    if len(specs) < 2 or not can_batch(list(specs.values())):
        for experiment_id in specs:
            run_experiment(experiment_id)
        return
    claims = [claim for claim in (store().claim(i, _environment()) for i in specs) if claim is not None]
    log.info("batch of %d claimed (%d asked)", len(claims), len(experiment_ids))
    if claims:
        run_claimed_batch(claims, get_settings())
