"""The worker's Celery app: the shared configuration plus this side's tasks.
`celery -A worker.celery_app worker -Q cpu` consumes it."""

import logging
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger

from service.logs import JsonFormatter
from service.queue import SWEEP_TASK, make_celery
from service.settings import get_settings

app = make_celery(get_settings())
app.conf.include = ["worker.tasks"]


@after_setup_logger.connect
@after_setup_task_logger.connect
def _json_logs(logger: Any, **_kwargs: Any) -> None:
    """Celery's own handlers, with JSON lines carrying the request and experiment ids."""
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())


class QuietRoutineSweeps(logging.Filter):
    """Drops Celery's INFO lines about the sweeper's routine runs (sent by beat,
    received, succeeded: three lines every sweep interval that drown the
    experiments' own lines). The sweeper logs a line itself when it acts,
    and warnings or errors about it always pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or SWEEP_TASK not in record.getMessage()


ROUTINE_LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")
for _name in ROUTINE_LOGGERS:
    logging.getLogger(_name).addFilter(QuietRoutineSweeps())
