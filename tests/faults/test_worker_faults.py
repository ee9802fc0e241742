"""Promises under worker faults: every accepted experiment reaches a terminal
state and runs to completion at most once in effect (RELIABILITY.md)."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime

from gradatlas.service.contracts.queue import RUN_TASK
from gradatlas.service.contracts.spec import ExperimentSpec

from tests.faults.conftest import Stack, pool_child
from tests.support import wait_for

LONG = {"name": "long", "model": {"arch": "mlp", "depth": 6, "width": 256, "activation": "tanh"},
        "data": {"input_dim": 32, "samples": 1024, "batch_size": 128}, "training": {"steps": 1500}, "probe": {"every": 500}}
ENDLESS = {**LONG, "name": "endless", "training": {"steps": 1_000_000}, "probe": {"every": 100_000}}  # ended by a limit or a cancel
SHORT = {"name": "short", "model": {"arch": "mlp", "depth": 3, "width": 16, "activation": "relu"}, "training": {"steps": 5}}


def submit(stack: Stack, spec: dict) -> str:
    from gradatlas.service.contracts.queue import CeleryEnqueue
    from gradatlas.service.jobs.submit import publish

    experiment = stack.store.create_experiment(ExperimentSpec.model_validate(spec), "alice", "cpu")
    publish(experiment.id, "cpu", stack.store, CeleryEnqueue(stack.settings))
    return experiment.id


def running_with_progress(stack: Stack, experiment_id: str, attempt: int = 1) -> bool:
    experiment = stack.store.get_experiment(experiment_id)
    return experiment.status == "running" and experiment.attempt == attempt and experiment.progress.step > 0


def profile_count(stack: Stack, experiment_id: str) -> int:
    from gradatlas.service.store.tables import ProfileRow
    from sqlalchemy import func, select

    with stack.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(ProfileRow).where(ProfileRow.experiment_id == experiment_id)))


def test_sigkill_of_the_pool_child_mid_run_is_retried_once(stack: Stack):
    experiment_id = submit(stack, LONG)
    with stack.scheduler(), stack.worker() as worker:
        wait_for(lambda: running_with_progress(stack, experiment_id), timeout=120, what="the first attempt")
        os.kill(pool_child(worker), signal.SIGKILL)
        stack.inject("SIGKILL pool child")
        stack.wait_terminal([experiment_id], timeout=300)
    done = stack.store.get_experiment(experiment_id)
    assert done.status == "succeeded" and done.attempt == 2, stack.tail_logs()
    assert profile_count(stack, experiment_id) == 1


def test_sigkill_of_the_whole_worker_then_a_new_one_and_the_old_message_is_a_no_op(stack: Stack):
    experiment_id = submit(stack, LONG)
    # A short visibility timeout makes Redis hand the dead worker's unacked message out again.
    with stack.scheduler():
        with stack.worker(visibility_timeout_s=6) as first:
            wait_for(lambda: running_with_progress(stack, experiment_id), timeout=120, what="the first attempt")
            os.killpg(first.pid, signal.SIGKILL)
            stack.inject("SIGKILL whole worker")
        # The sweeper finds the lease stale and queues the run again (a condition, not a guessed sleep).
        wait_for(lambda: stack.status(experiment_id) == "queued", timeout=60, what="the sweeper to requeue the run")
        with stack.worker(visibility_timeout_s=6):
            stack.wait_terminal([experiment_id], timeout=300)
            # Redis hands the dead worker's unacked message out again once it is older than the
            # visibility timeout, at the new worker's next check (every few seconds): a generous deadline.
            wait_for(lambda: "nothing to do" in stack.logs[-1].read_text(), timeout=90, what="the redelivered message")
    done = stack.store.get_experiment(experiment_id)
    assert done.status == "succeeded" and done.attempt == 2, stack.tail_logs()
    assert profile_count(stack, experiment_id) == 1


def test_a_poison_experiment_fails_worker_lost_and_the_queue_behind_it_still_runs(stack: Stack):
    poison = submit(stack, {**LONG, "name": "poison"})
    behind = [submit(stack, SHORT) for _ in range(2)]
    with stack.scheduler(), stack.worker() as worker:
        for attempt in (1, 2, 3):
            wait_for(lambda a=attempt: running_with_progress(stack, poison, a), timeout=180, what=f"attempt {attempt}")
            os.kill(pool_child(worker), signal.SIGKILL)
            stack.inject("SIGKILL pool child (poison)")
        stack.wait_terminal([poison, *behind], timeout=300)
    failed = stack.store.get_experiment(poison)
    assert failed.status == "failed" and failed.reason == "worker_lost" and failed.attempt == 3
    assert [stack.status(i) for i in behind] == ["succeeded", "succeeded"]
    assert profile_count(stack, poison) == 0


def test_duplicate_deliveries_concurrently_and_after_success_run_once(stack: Stack):
    experiment_id = submit(stack, SHORT)
    app = __import__("gradatlas.service.contracts.queue", fromlist=["CeleryEnqueue"]).CeleryEnqueue(stack.settings).app
    for _ in range(3):
        app.send_task(RUN_TASK, args=[experiment_id], queue="cpu")
        stack.inject("duplicate delivery")
    with stack.worker("a"), stack.worker("b"):
        stack.wait_terminal([experiment_id], timeout=300)
        wait_for(lambda: sum(log.read_text().count("nothing to do") for log in stack.logs) >= 3, timeout=30,
                 what="every duplicate to be consumed")
        first = stack.store.get_experiment(experiment_id)
        app.send_task(RUN_TASK, args=[experiment_id], queue="cpu")
        stack.inject("duplicate delivery after success")
        wait_for(lambda: sum(log.read_text().count("nothing to do") for log in stack.logs) >= 4, timeout=30,
                 what="the late duplicate to be consumed")
    after = stack.store.get_experiment(experiment_id)
    assert first.status == after.status == "succeeded" and after.attempt == 1
    assert after.finished_at == first.finished_at and profile_count(stack, experiment_id) == 1


def test_time_limit_fails_with_timeout_and_the_next_experiment_runs(stack: Stack):
    slow = submit(stack, {**ENDLESS, "time_limit_s": 1})
    stack.inject("time limit exceeded")
    after = submit(stack, SHORT)
    with stack.worker():
        stack.wait_terminal([slow, after], timeout=300)
    failed = stack.store.get_experiment(slow)
    assert failed.status == "failed" and failed.reason == "timeout" and "time limit" in failed.error
    assert stack.status(after) == "succeeded"
    assert profile_count(stack, slow) == 0


def test_cancel_while_running_ends_within_two_heartbeats_with_no_profile(stack: Stack):
    experiment_id = submit(stack, ENDLESS)
    with stack.worker():
        wait_for(lambda: running_with_progress(stack, experiment_id), timeout=120, what="the run")
        asked = datetime.now(UTC)
        stack.store.request_cancel(experiment_id)
        stack.inject("cancel while running")
        stack.wait_terminal([experiment_id], timeout=60)
    done = stack.store.get_experiment(experiment_id)
    assert done.status == "cancelled" and profile_count(stack, experiment_id) == 0
    # Timed by the worker's own finished_at, not by this test's polling (which lags on a busy machine).
    took = (done.finished_at - asked).total_seconds()
    assert took < 2 * stack.settings.heartbeat_interval_s + 1.0, took


def test_out_of_memory_fails_with_oom_and_the_worker_lives_on(stack: Stack):
    oom = submit(stack, {**SHORT, "name": "oom-1"})
    stack.inject("out of memory")
    fine = submit(stack, SHORT)
    log = stack.tmp / "faulty.log"
    stack.logs.append(log)
    from tests.support import worker_process

    with worker_process(stack.env(), log, app="tests.faults.faulty_app") as worker:
        stack.wait_terminal([oom, fine], timeout=300)
        assert worker.poll() is None
    failed = stack.store.get_experiment(oom)
    assert failed.status == "failed" and failed.reason == "oom" and "MemoryError" in failed.error
    assert stack.status(fine) == "succeeded"


def _rss_kib(pid: int) -> int:
    status = open(f"/proc/{pid}/status").read()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def test_worker_memory_stays_flat_over_50_experiments_with_ooms_among_them(stack: Stack):
    from tests.support import worker_process

    log = stack.tmp / "faulty.log"
    stack.logs.append(log)
    specs = [{**SHORT, "name": "oom-x" if i % 5 == 0 else f"ok-{i}"} for i in range(50)]
    stack.faults.extend(["out of memory"] * 10)
    with worker_process(stack.env(), log, app="tests.faults.faulty_app") as worker:
        warm = [submit(stack, spec) for spec in specs[:10]]
        stack.wait_terminal(warm, timeout=300)
        child = pool_child(worker)
        after_warm_up = _rss_kib(child)
        rest = [submit(stack, spec) for spec in specs[10:]]
        stack.wait_terminal(rest, timeout=300)
        assert pool_child(worker) == child  # the same process served all of them
        at_end = _rss_kib(child)
    reasons = [stack.store.get_experiment(i).reason for i in warm + rest]
    assert reasons.count("oom") == 10 and reasons.count(None) == 40
    assert at_end <= after_warm_up * 1.05, (after_warm_up, at_end)
