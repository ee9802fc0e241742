"""The worker's Celery app: the shared configuration plus this side's tasks.
`celery -A worker.celery_app worker -Q cpu` consumes it."""

from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger

from service.logs import JsonFormatter
from service.queue import make_celery
from service.settings import get_settings

app = make_celery(get_settings())
app.conf.include = ["worker.tasks"]


@after_setup_logger.connect
@after_setup_task_logger.connect
def _json_logs(logger: Any, **_kwargs: Any) -> None:
    """Celery's own handlers, with JSON lines carrying the request and experiment ids."""
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
