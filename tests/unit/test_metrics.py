"""GET /metrics as Prometheus 3 reads it: one charset in the Content-Type,
counters that never go down (deleting experiments included), label values
that no client can multiply, and a request-latency histogram; in one process
and summed over gunicorn's worker processes."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import requests
from gradatlas.service.api import create_app
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.store.rows import utcnow
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, text

from tests.support import free_port, service_env, serving

SPEC = {"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}, "training": {"steps": 5}}
PROFILE = {"layers": [{"index": 0, "name": "l0", "kind": "linear", "shape": [4, 4]}], "steps": [0], "loss": [2.3],
           "accuracy": [0.1], "metrics": {"grad_norm": np.ones((1, 1))}, "total_steps": 5}
ONE_EXPERIMENT = "/api/v1/experiments/<experiment_id>"


@pytest.fixture
def app(settings, store):  # type: ignore[no-untyped-def]
    return create_app(settings, store=store, enqueue=lambda *_: None)


def _headers(app, name: str = "alice") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {app.extensions['gradatlas'].tokens.create(name)[1]}"}


def _samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, parsed as Prometheus parses the text format: (name, sorted labels) → value."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(exposition) for sample in family.samples}


def _value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _run(store, experiment_id: str, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """A worker's run of `seconds`: claimed, its start moved back, then completed under its lease."""
    claim = store.claim(experiment_id, {"worker": "test"})
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE experiments SET started_at = :at WHERE id = :id"),
                           {"at": utcnow() - timedelta(seconds=seconds), "id": experiment_id})
    assert store.complete(claim, PROFILE, {"verdict": "healthy"}, {})


def test_the_content_type_has_exactly_one_charset_and_each_series_appears_once(app):
    client = app.test_client()
    client.get("/healthz")
    response = client.get("/metrics")
    series = [(sample.name, tuple(sorted(sample.labels.items())))
              for family in text_string_to_metric_families(response.get_data(as_text=True)) for sample in family.samples]
    assert len(series) == len(set(series)) and ("gradatlas_run_duration_seconds_count", ()) in series
    content_type = response.headers["Content-Type"]
    parameters = [part.strip().split("=")[0] for part in content_type.split(";")[1:]]
    assert content_type.startswith("text/plain;") and parameters.count("charset") == 1, content_type
    assert sorted(parameters) == ["charset", "version"]


def test_run_durations_land_in_their_buckets_and_deleting_experiments_never_lowers_them(app, store):
    client, alice = app.test_client(), _headers(app)
    ids = [client.post("/api/v1/experiments", json=SPEC, headers=alice).get_json()["id"] for _ in range(3)]
    for experiment_id, seconds in zip(ids, (0.1, 7.0, 7200.0), strict=True):
        _run(store, experiment_id, seconds)
    before = _samples(client.get("/metrics").get_data(as_text=True))
    assert [_value(before, "gradatlas_run_duration_seconds_bucket", le=le) for le in ("0.5", "5.0", "10.0", "3600.0", "+Inf")] \
        == [1, 1, 2, 2, 3]
    assert _value(before, "gradatlas_run_duration_seconds_count") == 3
    assert _value(before, "gradatlas_run_duration_seconds_sum") == pytest.approx(7207.1, abs=1.0)

    for experiment_id in ids[:2]:
        assert client.delete(f"/api/v1/experiments/{experiment_id}", headers=alice).status_code == 204
    after = _samples(client.get("/metrics").get_data(as_text=True))
    assert _value(after, "gradatlas_experiments", status="succeeded") == 1  # a gauge: it follows the rows
    for name, labels in before:
        if name.startswith("gradatlas_run_duration_seconds"):
            assert after[(name, labels)] == before[(name, labels)], (name, labels)


def test_a_lost_lease_or_a_failed_run_adds_nothing_to_the_duration_histogram(app, store):
    experiment = store.create_experiment(ExperimentSpec.model_validate(SPEC), "alice", "cpu")
    claim = store.claim(experiment.id, {"worker": "a"})
    assert store.finish(claim, "failed", "error", "boom")
    assert not store.complete(claim, PROFILE, {"verdict": "healthy"}, {})  # its lease is gone
    samples = _samples(app.test_client().get("/metrics").get_data(as_text=True))
    assert _value(samples, "gradatlas_run_duration_seconds_count") == 0


def test_a_scrape_reads_the_duration_totals_not_every_experiment_row(app, store):
    client, alice = app.test_client(), _headers(app)
    _run(store, client.post("/api/v1/experiments", json=SPEC, headers=alice).get_json()["id"], 1.5)
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda _c, _r, sql, *_: statements.append(sql.lower()))
    client.get("/metrics")
    assert any("from run_durations" in sql for sql in statements), statements
    assert not [sql for sql in statements if "started_at" in sql or "finished_at" in sql], statements


def test_unknown_methods_are_other_and_routes_are_rules_never_raw_paths(app):
    client, alice = app.test_client(), _headers(app)
    other = {"route": "unmatched", "method": "other", "status": "405"}
    one = {"route": ONE_EXPERIMENT, "method": "GET", "status": "404"}
    before = _samples(client.get("/metrics").get_data(as_text=True))
    assert client.open("/api/v1/experiments", method="FOOBAR1", headers=alice).status_code == 405
    assert client.get("/api/v1/experiments/no-such-id-4711", headers=alice).status_code == 404
    exposition = client.get("/metrics").get_data(as_text=True)
    after = _samples(exposition)
    assert "FOOBAR1" not in exposition and "no-such-id-4711" not in exposition
    methods = {dict(labels)["method"] for _, labels in after if "method" in dict(labels)}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"}, methods
    for labels in (other, one):
        name = "gradatlas_http_requests_total"
        assert _value(after, name, **labels) - _value(before, name, **labels) == 1, labels


def test_request_latency_is_a_histogram_by_method_route_and_status_class(app):
    client, alice = app.test_client(), _headers(app)
    name = "gradatlas_http_request_duration_seconds_count"
    labels = {"method": "GET", "route": "/api/v1/experiments"}
    before = _samples(client.get("/metrics").get_data(as_text=True))
    for _ in range(3):
        assert client.get("/api/v1/experiments", headers=alice).status_code == 200
    assert client.get("/api/v1/experiments").status_code == 401  # refused by the token guard: timed too
    after = _samples(client.get("/metrics").get_data(as_text=True))
    assert _value(after, name, **labels, status_class="2xx") - _value(before, name, **labels, status_class="2xx") == 3
    assert _value(after, name, **labels, status_class="4xx") - _value(before, name, **labels, status_class="4xx") == 1
    buckets = [(float(dict(key[1])["le"]), value) for key, value in after.items()
               if key[0] == "gradatlas_http_request_duration_seconds_bucket" and dict(key[1]).get("route") == labels["route"]
               and dict(key[1])["status_class"] == "2xx" and dict(key[1])["method"] == "GET"]
    assert max(buckets)[1] == _value(after, name, **labels, status_class="2xx")  # the +Inf bucket holds every request
    assert [value for _, value in sorted(buckets)] == sorted(value for _, value in buckets)  # cumulative


def test_under_gunicorn_the_metrics_are_summed_over_processes_and_never_go_down(app, settings, store, tmp_path: Path):
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {**service_env(settings.home, settings.database_url, settings.broker_url, pepper=settings.pepper),
           "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    alice, port = _headers(app), free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "3", "gradatlas.service.api.wsgi:app"]
    with serving(command, env, port) as url:
        session = requests.Session()

        def call(method: str, path: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
            session.close()  # a new connection each time, so requests spread over the worker processes
            return session.request(method, url + path, timeout=10, **kwargs)

        ids = [call("POST", "/api/v1/experiments", json=SPEC, headers=alice).json()["id"] for _ in range(6)]
        for experiment_id in ids[:4]:
            _run(store, experiment_id, 3.0)  # this process stands for the worker processes
        assert call("FOOBAR1", "/api/v1/experiments", headers=alice).status_code == 405
        first = call("GET", "/metrics")
        assert first.headers["Content-Type"].count("charset") == 1, first.headers["Content-Type"]
        before = _samples(first.text)
        assert _value(before, "gradatlas_run_duration_seconds_count") == 4
        assert _value(before, "gradatlas_http_requests_total", route="/api/v1/experiments", method="POST", status="202") == 6
        assert _value(before, "gradatlas_http_request_duration_seconds_count", method="POST", route="/api/v1/experiments",
                      status_class="2xx") == 6
        assert _value(before, "gradatlas_http_requests_total", route="unmatched", method="other", status="405") == 1

        for experiment_id in ids[:3]:
            assert call("DELETE", f"/api/v1/experiments/{experiment_id}", headers=alice).status_code == 204
        _run(store, ids[4], 3.0)
        after = _samples(call("GET", "/metrics").text)
        assert _value(after, "gradatlas_run_duration_seconds_count") == 5
        assert _value(after, "gradatlas_run_duration_seconds_bucket", le="5.0") == 5
        assert _value(after, "gradatlas_http_request_duration_seconds_count", method="DELETE", route=ONE_EXPERIMENT,
                      status_class="2xx") == 3
        assert "FOOBAR1" not in call("GET", "/metrics").text

