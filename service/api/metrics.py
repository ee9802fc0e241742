"""GET /metrics in Prometheus' text format.

HTTP counts come from prometheus_client (multi-process mode under gunicorn
when PROMETHEUS_MULTIPROC_DIR is set, as `gradatlas up` does). Everything
about jobs is read from the database at scrape time, so it is right however
many API and worker processes there are; the sweeper's actions come from the
shared counters it increments.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, request
from gradatlas.service.api import services
from gradatlas.service.store.tables import ExperimentRow
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import case, func, select

blueprint = Blueprint("metrics", __name__)

HTTP_REQUESTS = Counter("gradatlas_http_requests", "HTTP requests by route, method and status", ["route", "method", "status"])
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)
SWEEPER_ACTIONS = ("republished", "requeued", "failed")


def count_request(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule else "unmatched"
    HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    return response


class JobCollector:
    """Experiments by status, queue depth, run durations, sweeper actions."""

    def collect(self) -> Iterator[Any]:
        s = services()
        with s.store.session() as session:
            by_status = dict(session.execute(select(ExperimentRow.status, func.count()).group_by(ExperimentRow.status)).all())
            depth = dict(session.execute(select(ExperimentRow.queue, func.count())
                                         .where(ExperimentRow.status == "queued").group_by(ExperimentRow.queue)).all())
            durations = _duration_buckets(session)
        status = GaugeMetricFamily("gradatlas_experiments", "Experiments by status", labels=["status"])
        for name in ("queued", "running", "succeeded", "failed", "cancelled"):
            status.add_metric([name], by_status.get(name, 0))
        yield status
        queue = GaugeMetricFamily("gradatlas_queue_depth", "Experiments waiting, by queue", labels=["queue"])
        for name in ("cpu", "gpu"):
            queue.add_metric([name], depth.get(name, 0))
        yield queue
        yield durations
        sweeper = CounterMetricFamily("gradatlas_sweeper_actions", "Jobs the sweeper acted on", labels=["action"])
        for action in SWEEPER_ACTIONS:
            sweeper.add_metric([action], s.rate_limiter.counter.read(f"sweeper:{action}", 0))
        yield sweeper


def _duration_buckets(session: Any) -> HistogramMetricFamily:
    seconds = _seconds_between(session, ExperimentRow.started_at, ExperimentRow.finished_at)
    finished = select(seconds.label("s")).where(ExperimentRow.status == "succeeded").subquery()
    counts = session.execute(select(
        *[func.sum(case((finished.c.s <= bound, 1), else_=0)) for bound in DURATION_BUCKETS],
        func.count(), func.coalesce(func.sum(finished.c.s), 0.0),
    )).one()
    buckets = [(str(bound), int(count or 0)) for bound, count in zip(DURATION_BUCKETS, counts[:-2], strict=True)]
    buckets.append(("+Inf", int(counts[-2])))
    histogram = HistogramMetricFamily("gradatlas_run_duration_seconds", "Run time of succeeded experiments")
    histogram.add_metric([], buckets, float(counts[-1]))
    return histogram


def _seconds_between(session: Any, start: Any, end: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


@blueprint.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessLocalHttp())
    registry.register(JobCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class _ProcessLocalHttp:
    """The HTTP counter of this process alone (single-process servers, tests)."""

    def collect(self) -> Iterator[Any]:
        yield from HTTP_REQUESTS.collect()
