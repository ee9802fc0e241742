"""Cancelling an experiment, for the API route and the page's button alike."""

from __future__ import annotations

from gradatlas.service.auth.ownership import require_owner
from gradatlas.service.contracts.errors import Conflict, NotFound
from gradatlas.service.contracts.resources import Experiment, Principal
from gradatlas.service.store.gateway import Store


def cancel(store: Store, experiment: Experiment, who: Principal) -> Experiment:
    """A queued experiment is cancelled at once, a running one when its worker
    next looks; only its owner or an admin may, and a finished one is a Conflict."""
    require_owner(experiment, who)
    try:
        cancelled = store.request_cancel(experiment.id)
    except Conflict as exc:
        raise Conflict(f"cannot cancel: {exc}") from exc
    if cancelled is None:  # deleted since it was read
        raise NotFound(f"no experiment {experiment.id!r}")
    return cancelled
