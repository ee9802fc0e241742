"""The Celery configuration shared by the API (which only publishes) and the
worker (which consumes). Tasks are sent by name, with ids, never objects, so
the API needs neither the worker's code nor PyTorch."""

from __future__ import annotations

from celery import Celery
from gradatlas.service.contracts.logs import request_id_var
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.contracts.spec import ExperimentSpec
from kombu import Queue

RUN_TASK = "worker.tasks.run_experiment"
# The recovery task keeps its first name: queued messages and beat schedules carry it.
RECOVER_TASK = "worker.tasks.sweep"
BATCH_TASK = "worker.tasks.run_batch"  # same-shaped sweep points, run as one model
# Recovery gets its own queue so a worker can serve it beside (or instead of) experiments.
MAINTENANCE_QUEUE = "maintenance"


def make_celery(settings: Settings) -> Celery:
    app = Celery("gradatlas", broker=settings.broker_url, set_as_current=False)
    transport_options: dict[str, object] = {"visibility_timeout": settings.visibility_timeout_s}
    if settings.broker_url.startswith("sqla+"):
        transport_options = {}  # this transport hands every option to create_engine()
        _tune_sqlalchemy_transport(settings.broker_polling_interval_s)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        event_serializer="json",
        task_ignore_result=True,  # results live in the database
        task_acks_late=True,
        task_reject_on_worker_lost=False,  # the recovery task, not a redelivery loop, recovers a lost job
        worker_prefetch_multiplier=1,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        task_queues=[Queue("cpu"), Queue("gpu"), Queue(MAINTENANCE_QUEUE)],
        task_default_queue="cpu",
        task_time_limit=settings.time_limit_s + 60,  # hard limit < visibility timeout
        worker_hijack_root_logger=False,
        beat_schedule={
            # The entry keeps its first name, as the task does (beat's schedule file knows it).
            "sweep": {"task": RECOVER_TASK, "schedule": settings.sweep_interval_s,
                      "options": {"queue": MAINTENANCE_QUEUE, "expires": settings.sweep_interval_s}},
        },
    )
    return app


def _tune_sqlalchemy_transport(polling_interval_s: float) -> None:
    """kombu's SQLAlchemy transport polls its table once a second by default
    and accepts no polling option (its options go to create_engine), so the
    interval is set on the class: a short one keeps turnaround low."""
    from kombu.transport import sqlalchemy as sqla_transport

    sqla_transport.Transport.polling_interval = polling_interval_s


def queue_for(spec: ExperimentSpec, settings: Settings) -> str:
    if spec.device == "cuda" or (spec.device == "auto" and settings.gpu_queue):
        return "gpu"
    return "cpu"


class CeleryEnqueue:
    """Publishes a job id to its queue. Raises if the broker is unreachable:
    the caller keeps the row `queued` and recovery publishes it later."""

    def __init__(self, settings: Settings) -> None:
        self.app = make_celery(settings)

    def __call__(self, experiment_id: str, queue: str) -> None:
        # One retry: kombu's SQLAlchemy transport can lose the race to create
        # its queue row against another process (IntegrityError) on first use.
        try:
            self._send(experiment_id, queue)
        except Exception:
            self._send(experiment_id, queue)

    def _send(self, experiment_id: str, queue: str) -> None:
        # The request id travels in the message headers into the worker's log lines.
        self.app.send_task(RUN_TASK, args=[experiment_id], queue=queue, retry=False,
                           headers={"request_id": request_id_var.get()})

    def batch(self, experiment_ids: list[str], queue: str) -> None:
        """One task for points that can run as one vectorised model."""
        self.app.send_task(BATCH_TASK, args=[experiment_ids], queue=queue, retry=False)

    def ping(self) -> None:
        with self.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
