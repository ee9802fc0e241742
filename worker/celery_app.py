"""The worker's Celery app: the shared configuration plus this side's tasks.
`celery -A gradatlas.worker.celery_app worker -Q cpu` consumes it."""

import logging
from typing import Any

from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import after_setup_logger, after_setup_task_logger, celeryd_after_setup, worker_process_init
from gradatlas.service.contracts.logs import JsonFormatter
from gradatlas.service.contracts.queue import RECOVER_TASK, make_celery
from gradatlas.service.contracts.settings import get_settings
from gradatlas.worker import threads

app = make_celery(get_settings())
app.conf.include = ["gradatlas.worker.tasks"]

log = logging.getLogger("gradatlas.worker")

# Resolved once in the worker's main process; forked pool processes inherit it.
_torch_threads: int | None = None


@after_setup_logger.connect
@after_setup_task_logger.connect
def _json_logs(logger: Any, **_kwargs: Any) -> None:
    """Celery's own handlers, with JSON lines carrying the request and experiment ids."""
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())


@celeryd_after_setup.connect
def _choose_torch_threads(instance: Any, **_kwargs: Any) -> None:
    """In the worker's main process, for every pool, once logging is set up
    and `--concurrency` (even `auto`) resolved, and before the prefork pool
    forks its processes, which apply the count themselves (below). The solo
    and threads pools run tasks in this process, so it is applied here."""
    global _torch_threads
    _torch_threads, source = threads.choose(get_settings(), instance.concurrency)
    log.info("torch threads per pool process: %s (%s)", _torch_threads or "as OMP_NUM_THREADS says", source)
    if _torch_threads and not issubclass(instance.pool_cls, PreforkPool):
        threads.apply(_torch_threads)


@worker_process_init.connect
def _apply_torch_threads(**_kwargs: Any) -> None:
    """In each prefork pool process as it starts. (The solo pool sends this
    too, in the main process, before the count is chosen: nothing to do.)"""
    if _torch_threads:
        threads.apply(_torch_threads)


class QuietRoutineRecovery(logging.Filter):
    """Drops Celery's INFO lines about the recovery task's routine runs (sent
    by beat, received, succeeded: three lines every interval that drown the
    experiments' own lines). Recovery logs a line itself when it acts, and
    warnings or errors about it always pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or RECOVER_TASK not in record.getMessage()


ROUTINE_LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")
for _name in ROUTINE_LOGGERS:
    logging.getLogger(_name).addFilter(QuietRoutineRecovery())
