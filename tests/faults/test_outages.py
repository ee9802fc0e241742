"""Promises under broker and database outages: nothing accepted is lost, the
API answers JSON (503 with Retry-After) rather than 500 or a hang."""

from __future__ import annotations

import threading
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.faults.conftest import Stack
from tests.faults.test_worker_faults import LONG, SHORT, profile_count, running_with_progress, submit
from tests.support import wait_for


def _post(client, headers, spec):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/experiments", json=spec, headers=headers)


def _headers(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    return {"Authorization": f"Bearer {token}"}


def test_broker_down_at_submit_loses_nothing(stack: Stack):
    app = stack.app()
    client, headers = app.test_client(), _headers(app)
    stack.redis.stop()
    stack.inject("broker down at submit")
    responses = [_post(client, headers, {**SHORT, "name": f"offline-{i}"}) for i in range(5)]
    assert [r.status_code for r in responses] == [202] * 5
    ids = [r.get_json()["id"] for r in responses]
    assert all(stack.status(i) == "queued" for i in ids)
    stack.redis.start()
    with stack.scheduler(), stack.worker():
        stack.wait_terminal(ids, timeout=300)  # the sweeper publishes them again: no clock race, a deadline
    assert [stack.status(i) for i in ids] == ["succeeded"] * 5
    assert sum(profile_count(stack, i) for i in ids) == 5


def test_redis_restart_with_queued_and_running_work_and_the_worker_keeps_consuming(stack: Stack):
    with stack.scheduler(), stack.worker():
        running = submit(stack, LONG)
        wait_for(lambda: running_with_progress(stack, running), timeout=120, what="the running experiment")
        queued = [submit(stack, SHORT) for _ in range(3)]
        stack.redis.stop()  # Redis here keeps nothing on disk: the queued messages are gone
        stack.inject("broker restart")
        time.sleep(1)
        stack.redis.start()
        stack.wait_terminal([running, *queued], timeout=300)
        after = submit(stack, SHORT)
        stack.wait_terminal([after], timeout=300)
    assert stack.status(after) == "succeeded", stack.tail_logs()
    # The running one never needed the broker again (its lease is in the database) and the
    # queued ones were published again by the sweeper: every one of them succeeds, once.
    assert [stack.status(i) for i in [running, *queued]] == ["succeeded"] * 4, stack.tail_logs()
    assert [profile_count(stack, i) for i in [running, *queued]] == [1] * 4


def _block_connections(database_url: str, allowed: bool) -> None:
    name = make_url(database_url).database
    admin = create_engine(make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}'))
        if not allowed:
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
    admin.dispose()


def test_postgres_outage_gives_503_json_never_500_and_the_run_is_not_lost(stack: Stack):
    app = stack.app()
    client, headers = app.test_client(), _headers(app)
    experiment_id = _post(client, headers, LONG).get_json()["id"]
    statuses: list[int] = []
    with stack.scheduler(), stack.worker():
        wait_for(lambda: running_with_progress(stack, experiment_id), timeout=120, what="the run")
        _block_connections(stack.settings.database_url, allowed=False)
        stack.inject("database outage")
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                started = time.monotonic()
                for response in (client.get(f"/api/v1/experiments/{experiment_id}", headers=headers),
                                 _post(client, headers, SHORT), client.get("/readyz")):
                    statuses.append(response.status_code)
                    assert response.mimetype == "application/json"
                    if response.status_code == 503:
                        assert response.headers["Retry-After"]
                assert time.monotonic() - started < 10  # answered, not hung
                time.sleep(0.2)
        finally:
            _block_connections(stack.settings.database_url, allowed=True)
        stack.wait_terminal([experiment_id], timeout=300)
    assert 503 in statuses and 500 not in statuses, statuses
    done = stack.store.get_experiment(experiment_id)
    assert done.status == "succeeded" and profile_count(stack, experiment_id) == 1, stack.tail_logs()


def test_the_api_never_hangs_while_the_database_is_down(stack: Stack):
    app = stack.app()
    client, headers = app.test_client(), _headers(app)
    _block_connections(stack.settings.database_url, allowed=False)
    stack.inject("database outage")
    results: list[int] = []
    try:
        thread = threading.Thread(target=lambda: results.append(client.get("/api/v1/experiments", headers=headers).status_code))
        thread.start()
        thread.join(timeout=15)
        assert not thread.is_alive()
    finally:
        _block_connections(stack.settings.database_url, allowed=True)
    assert results == [503]
