"""GET /metrics in Prometheus' text format.

HTTP counts come from prometheus_client (multi-process mode under gunicorn
when PROMETHEUS_MULTIPROC_DIR is set, as `gradatlas up` does). Everything
about jobs is read from the database at scrape time, so it is right however
many API and worker processes there are (service/store/metrics.py); the
recovery task's actions come from the shared counters it increments, under
their first metric name, `gradatlas_sweeper_actions`, which dashboards use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, request
from gradatlas.service.api.context import services
from gradatlas.service.store.metrics import JobCounts, job_counts
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

blueprint = Blueprint("metrics", __name__)

HTTP_REQUESTS = Counter("gradatlas_http_requests", "HTTP requests by route, method and status", ["route", "method", "status"])
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)
RECOVERY_ACTIONS = ("republished", "requeued", "failed")


def count_request(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule else "unmatched"
    HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    return response


class JobCollector:
    """Experiments by status, queue depth, run durations, recovery actions."""

    def collect(self) -> Iterator[Any]:
        s = services()
        counts = job_counts(s.store, DURATION_BUCKETS)
        status = GaugeMetricFamily("gradatlas_experiments", "Experiments by status", labels=["status"])
        for name in ("queued", "running", "succeeded", "failed", "cancelled"):
            status.add_metric([name], counts.by_status.get(name, 0))
        yield status
        queue = GaugeMetricFamily("gradatlas_queue_depth", "Experiments waiting, by queue", labels=["queue"])
        for name in ("cpu", "gpu"):
            queue.add_metric([name], counts.queued_by_queue.get(name, 0))
        yield queue
        yield _duration_histogram(counts)
        recovery = CounterMetricFamily("gradatlas_sweeper_actions", "Jobs the sweeper acted on", labels=["action"])
        for action in RECOVERY_ACTIONS:
            recovery.add_metric([action], s.rate_limiter.counter.read(f"sweeper:{action}", 0))
        yield recovery


def _duration_histogram(counts: JobCounts) -> HistogramMetricFamily:
    buckets = [(str(bound), count) for bound, count in zip(DURATION_BUCKETS, counts.within, strict=True)]
    buckets.append(("+Inf", counts.runs))
    histogram = HistogramMetricFamily("gradatlas_run_duration_seconds", "Run time of succeeded experiments")
    histogram.add_metric([], buckets, counts.run_seconds)
    return histogram


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
