"""Running claimed sweep points as one batch, with every lifecycle guarantee
of a single run kept per row.

One heartbeat thread renews every point's lease. A point whose cancel is
requested is finished `cancelled` at once (its slot in the batch runs on,
unused); a point whose lease is lost is left to whoever holds it now; when
no point is left the batch stops. Each surviving point is completed on its
own, under its own lease, with its own profile and summary.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from gradatlas.service.contracts.resources import Claim
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.worker.engine.batched import run_batched
from gradatlas.worker.lifecycle import HeartbeatThread, StopRun, complete, fail, stopped, store

log = logging.getLogger("gradatlas.worker")


@dataclass
class Leases(HeartbeatThread):
    """Renews every live point's claim; a cancelled point is finished at once."""

    claims: list[Claim]
    interval: float
    total: int
    step: int = 0
    stopped: dict[str, str] = field(default_factory=dict)  # experiment id -> why it left the batch

    def live(self) -> list[Claim]:
        return [claim for claim in self.claims if claim.experiment_id not in self.stopped]

    def _beat(self) -> None:
        for claim in self.live():
            beat = self._renew(claim, self.step, self.total)
            if beat is None:
                continue
            if not beat.alive:
                self.stopped[claim.experiment_id] = "lease_lost"
            elif beat.cancel_requested:
                store().finish(claim, "cancelled", "cancelled")
                self.stopped[claim.experiment_id] = "cancelled"


def run_claimed_batch(claims: list[Claim], settings: Settings) -> None:
    specs = [ExperimentSpec.model_validate(claim.spec) for claim in claims]
    limit = min(spec.time_limit_s or settings.time_limit_s for spec in specs)
    deadline = time.monotonic() + limit
    with Leases(claims, settings.heartbeat_interval_s, specs[0].training.steps) as leases:
        def on_step(done: int, total: int) -> None:
            leases.step = done
            if not leases.live():
                raise StopRun("nothing left to run")
            if time.monotonic() > deadline:
                raise StopRun("timeout")

        try:
            results = run_batched(specs, on_step=on_step)
            for claim, spec, result in zip(claims, specs, results, strict=True):
                if claim.experiment_id not in leases.stopped:
                    log.info("batch point %s: %s", claim.experiment_id, complete(claim, spec, result, settings))
        except (StopRun, SoftTimeLimitExceeded) as stop:
            reason = stop.reason if isinstance(stop, StopRun) else "timeout"
            for claim, spec in zip(claims, specs, strict=True):
                if claim.experiment_id not in leases.stopped:
                    log.info("batch point %s: %s", claim.experiment_id, stopped(claim, reason, spec))
            return
        except Exception as exc:  # the worker's own fault, recorded on every point not yet written
            log.exception("batch of %d failed", len(claims))
            for claim in leases.live():
                fail(claim, exc)
