"""The Celery tasks: the thin adapter between the queue, the store and the
engine. What a run shares with a batch of sweep points (worker/batch.py) --
the store, the heartbeat, how a claim ends -- is in worker/lifecycle.py.

A delivery only carries an id. The task claims the row with a lease, runs the
engine while a heartbeat thread renews the lease and picks up cancellation,
and writes the result in one transaction guarded by the lease. A duplicate
delivery finds nothing to claim and returns.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from gradatlas.service.auth.ratelimit import make_counter
from gradatlas.service.contracts.logs import experiment_id_var, request_id_var
from gradatlas.service.contracts.queue import BATCH_TASK, RECOVER_TASK, RUN_TASK
from gradatlas.service.contracts.resources import Claim, RecoveryReport
from gradatlas.service.contracts.settings import Settings, get_settings
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.worker.batch import run_claimed_batch
from gradatlas.worker.celery_app import app
from gradatlas.worker.engine import run_experiment as run_engine
from gradatlas.worker.engine.batched import can_batch
from gradatlas.worker.lifecycle import HeartbeatThread, StopRun, complete, environment, fail, failure_reason, stopped, store

log = logging.getLogger("gradatlas.worker")


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


@app.task(name=RUN_TASK, bind=True)
def run_experiment(self: Any, experiment_id: str) -> None:
    experiment_id_var.set(experiment_id)
    request_id_var.set(self.request.get("request_id"))
    settings = get_settings()
    claim = store().claim(experiment_id, environment())
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
        return stopped(claim, stop.reason, spec)
    except SoftTimeLimitExceeded:
        return stopped(claim, "timeout", spec)
    except Exception as exc:  # the worker's own fault: record it, never lose the job
        log.exception("experiment %s failed (%s)", claim.experiment_id, failure_reason(exc))
        return f"failed ({fail(claim, exc)})"
    return complete(claim, spec, result, settings)


def _count_recovery_actions(settings: Settings, report: RecoveryReport) -> None:
    """Totals shared with the API's /metrics (a counter must outlive this
    process), under their first keys, `sweeper:…`, so totals so far still count."""
    counter = make_counter(settings.broker_url, settings.home)
    for action, ids in (("republished", report.republish), ("requeued", report.requeued), ("failed", report.failed)):
        if ids:
            counter.increment(f"sweeper:{action}", 0, len(ids))


@app.task(name=RECOVER_TASK)
def recover() -> dict[str, int]:
    """Recover lost work (docs/design.md, job lifecycle step 5): publish again what may have been
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


@app.task(name=BATCH_TASK)
def run_batch(experiment_ids: list[str]) -> None:
    """Same-shaped sweep points as one vectorised model (worker/engine/batched.py).

    Each row is still claimed with its own lease, heartbeated, and completed
    with its own profile under that lease; a row that is no longer queued (a
    duplicate delivery, a cancel) is simply not in the batch. Points that
    cannot batch after all run one by one through run_experiment.
    """
    specs = {}
    for experiment_id in experiment_ids:
        experiment = store().get_experiment(experiment_id)
        if experiment is not None and experiment.status == "queued":
            specs[experiment_id] = ExperimentSpec.model_validate(experiment.spec)
    if len(specs) < 2 or not can_batch(list(specs.values())):
        for experiment_id in specs:
            run_experiment(experiment_id)
        return
    claims = [claim for claim in (store().claim(i, environment()) for i in specs) if claim is not None]
    log.info("batch of %d claimed (%d asked)", len(claims), len(experiment_ids))
    if claims:
        run_claimed_batch(claims, get_settings())
