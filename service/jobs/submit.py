"""Submitting an experiment: validate, check the quota, store, then publish.

The row is committed before the message is sent (Celery's "database
transactions" advice); if the broker is down the row stays `queued` and
recovery (Store.recover) publishes it later, so an accepted job is never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gradatlas.service.contracts.errors import InvalidInput, QuotaExceeded, validated
from gradatlas.service.contracts.queue import queue_for
from gradatlas.service.contracts.resources import Experiment
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.contracts.spec import ARCH_DATA, ExperimentSpec, parameter_count
from gradatlas.service.store.gateway import Store

log = logging.getLogger("gradatlas.submit")

Enqueue = Callable[[str, str], None]


def parse_spec(body: Any) -> ExperimentSpec:
    spec = validated(ExperimentSpec, body, "the experiment spec", "the experiment spec is not valid")
    _check_arch_data(spec)
    return spec


def _check_arch_data(spec: ExperimentSpec) -> None:
    """Each arch reads one kind of data (spec.ARCH_DATA); a CNN's Gaussian images are square."""
    arch, data = spec.model.arch, spec.data
    if data.name not in ARCH_DATA[arch]:
        raise InvalidInput(f"arch {arch!r} cannot read data {data.name!r}",
                           [{"loc": ["data", "name"], "msg": f"{arch} reads {sorted(ARCH_DATA[arch])}, not {data.name!r}"}])
    side = round((data.input_dim or 0) ** 0.5)
    if arch == "cnn" and side * side != data.input_dim:
        raise InvalidInput("a cnn's Gaussian images are square: data.input_dim must be a perfect square",
                           [{"loc": ["data", "input_dim"], "msg": f"{data.input_dim} is not a perfect square (e.g. 64 = 8×8)"}])


def check_quota(spec: ExperimentSpec, settings: Settings) -> None:
    """QuotaExceeded naming the limit and by how much the spec exceeds it."""
    params = parameter_count(spec)
    work = float(params) * spec.data.batch_size * max(spec.training.steps, 1)
    checks = [
        (["model"], "parameter count", params, settings.max_params),
        (["training", "steps"], "steps", spec.training.steps, settings.max_steps),
        (["training", "steps"], "estimated work (parameters × batch × steps)", work, settings.max_work),
    ]
    details: list[dict[str, Any]] = [{"loc": loc, "msg": f"{what} {value:.4g} exceeds the limit {limit:.4g} ({value / limit:.3g}× over)"}
               for loc, what, value, limit in checks if value > limit]
    if details:
        raise QuotaExceeded("the experiment exceeds the quota: " + details[0]["msg"], details)


def submit(body: Any, owner: str, store: Store, enqueue: Enqueue, settings: Settings) -> Experiment:
    spec = parse_spec(body)
    check_quota(spec, settings)
    queue = queue_for(spec, settings)
    experiment = store.create_experiment(spec, owner=owner, queue=queue)
    publish(experiment.id, queue, store, enqueue)
    return experiment


def publish(experiment_id: str, queue: str, store: Store, enqueue: Enqueue) -> bool:
    return publish_or_leave_queued(lambda: enqueue(experiment_id, queue), [experiment_id], store)


def publish_or_leave_queued(send: Callable[[], None], experiment_ids: list[str], store: Store) -> bool:
    """`send` the experiments' messages, then mark them published. When the
    broker fails, say so in the log and leave them `queued`: recovery
    publishes them later (one by one), so an accepted job is never lost."""
    try:
        send()
    except Exception as exc:  # any broker failure: recovery publishes them later
        log.warning("could not publish %s (%s); it stays queued for recovery", ", ".join(experiment_ids), exc)
        return False
    for experiment_id in experiment_ids:
        store.mark_published(experiment_id)
    return True
