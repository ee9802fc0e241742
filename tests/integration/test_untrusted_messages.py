"""Nothing deserialises untrusted pickle: a pickled message pushed into the
queue is refused by the worker (JSON only) and its payload never runs."""

from __future__ import annotations

import os
from pathlib import Path

from gradatlas.service.contracts.queue import RUN_TASK, CeleryEnqueue
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.jobs.submit import publish
from kombu import Exchange, Queue

from tests.support import service_env, wait_for, worker_process


class Payload:
    """Unpickling this creates a folder: proof that the payload ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.mkdir, (str(self.marker),))


def test_a_pickled_message_is_discarded_and_its_payload_never_runs(settings, store, tmp_path: Path):
    marker = tmp_path / "payload-ran"
    enqueue = CeleryEnqueue(settings)
    with enqueue.app.connection_for_write() as connection:
        connection.Producer().publish(
            [[Payload(marker)], {}, {}], serializer="pickle", exchange="cpu", routing_key="cpu",
            declare=[Queue("cpu", Exchange("cpu"), routing_key="cpu")], headers={"task": RUN_TASK, "id": "evil-1", "lang": "py", "argsrepr": "", "kwargsrepr": ""},
        )
    follower = store.create_experiment(ExperimentSpec.model_validate(
        {"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}, "training": {"steps": 2}}), "alice", "cpu")
    assert publish(follower.id, "cpu", store, enqueue)
    log = tmp_path / "worker.log"
    with worker_process(service_env(settings.home, settings.database_url, settings.broker_url), log):
        wait_for(lambda: store.get_experiment(follower.id).status == "succeeded", timeout=90, what="the follower")
    assert not marker.exists()
    assert "Refusing to deserialize untrusted content of type pickle" in log.read_text()


def test_no_code_unpickles_or_loads_tensors_without_weights_only():
    import re

    from tests.support import ROOT

    sources = [p for folder in ("service", "worker") for p in (ROOT / folder).rglob("*.py")]
    offenders = [str(p) for p in sources if re.search(r"pickle\.loads?\(|torch\.load\((?![^)]*weights_only=True)", p.read_text())]
    assert sources and offenders == []
