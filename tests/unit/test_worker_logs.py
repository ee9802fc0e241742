"""The worker's log stays about experiments: Celery's lines about the routine
recovery runs are dropped, every other line passes."""

from __future__ import annotations

import logging

import pytest
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from gradatlas.service.contracts.queue import RECOVER_TASK, RUN_TASK
from gradatlas.worker.celery_app import ROUTINE_LOGGERS


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def kept() -> Kept:
    handler = Kept()
    for name in ROUTINE_LOGGERS:
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)
    yield handler
    for name in ROUTINE_LOGGERS:
        logging.getLogger(name).removeHandler(handler)


def log_a_run_of(task: str) -> None:
    fields = {"name": task, "id": "abc", "runtime": 0.01, "return_value": {}}
    logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "sweep", task)
    logging.getLogger("celery.worker.strategy").info(LOG_RECEIVED, fields)
    logging.getLogger("celery.app.trace").info(LOG_SUCCESS, fields)


def test_routine_recovery_runs_leave_no_line(kept: Kept) -> None:
    log_a_run_of(RECOVER_TASK)
    assert kept.lines == []


def test_experiment_lines_and_recovery_warnings_pass(kept: Kept) -> None:
    log_a_run_of(RUN_TASK)
    logging.getLogger("celery.app.trace").warning("Task %s[abc] raised unexpected: boom", RECOVER_TASK)
    assert len(kept.lines) == 4 and all(RUN_TASK in line for line in kept.lines[:3])


def test_the_recovery_task_keeps_the_name_queued_messages_and_beat_schedules_carry(settings) -> None:
    from gradatlas.service.contracts.queue import make_celery
    from gradatlas.worker import tasks
    from gradatlas.worker.celery_app import app

    assert RECOVER_TASK == "worker.tasks.sweep"
    assert tasks.recover.name == RECOVER_TASK and RECOVER_TASK in app.tasks
    assert make_celery(settings).conf.beat_schedule["sweep"]["task"] == RECOVER_TASK
