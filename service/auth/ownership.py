"""Who may change what: an experiment's owner or an admin; tokens are for admins."""

from __future__ import annotations

from gradatlas.service.contracts.errors import Forbidden
from gradatlas.service.contracts.resources import Experiment, Principal


def require_owner(experiment: Experiment, who: Principal) -> None:
    if not (who.is_admin or experiment.owner == who.name):
        raise Forbidden(f"only the owner ({experiment.owner}) or an admin may change this experiment")


def require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("this route is for admins")
