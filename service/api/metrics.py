"""GET /metrics in Prometheus' text format.

HTTP counts and latencies come from prometheus_client (multi-process mode
under gunicorn when PROMETHEUS_MULTIPROC_DIR is set, as `gradatlas up` does).
Their labels are bounded so that no client can grow the series without end:
`method` is one of the standard methods or `other`, `route` is the matched
rule (`/api/v1/experiments/<experiment_id>`, never the raw path) or
`unmatched`. Everything about jobs is read from the database at scrape time,
so it is right however many API and worker processes there are
(service/store/metrics.py); the run-duration histogram comes from running
totals that only grow (service/store/durations.py); the recovery task's
actions come from the shared counters it increments, under their first
metric name, `gradatlas_sweeper_actions`, which dashboards use.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, g, request
from gradatlas.service.api.context import services
from gradatlas.service.api.declare import declare
from gradatlas.service.store.durations import DURATION_BOUNDS, bucket_label
from gradatlas.service.store.metrics import JobCounts, job_counts
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

blueprint = Blueprint("metrics", __name__)

HTTP_REQUESTS = Counter("gradatlas_http_requests", "HTTP requests by route, method and status", ["route", "method", "status"])
HTTP_LATENCY = Histogram("gradatlas_http_request_duration_seconds", "Time to answer an HTTP request, by method, route and status class",
                         ["method", "route", "status_class"])
STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})
RECOVERY_ACTIONS = ("republished", "requeued", "failed")


def start_timer() -> None:
    """Registered before every other before-request hook, so a request the
    token guard refuses is timed too."""
    g.metrics_started = time.perf_counter()


def count_request(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule else "unmatched"
    method = request.method if request.method in STANDARD_METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        HTTP_LATENCY.labels(method, route, f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
    return response


class JobCollector:
    """Experiments by status, queue depth, run durations, recovery actions."""

    def collect(self) -> Iterator[Any]:
        s = services()
        counts = job_counts(s.store)
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
    """Cumulative buckets from the per-bucket totals: today's bounds, plus any
    bound a stored total was counted under (each count stays true of its bound)."""
    bounds = sorted((set(DURATION_BOUNDS) | set(counts.durations)) - {math.inf})
    buckets, so_far = [], 0
    for bound in bounds:
        so_far += counts.durations.get(bound, (0, 0.0))[0]
        buckets.append((bucket_label(bound), so_far))
    buckets.append(("+Inf", sum(runs for runs, _ in counts.durations.values())))
    histogram = HistogramMetricFamily("gradatlas_run_duration_seconds", "Run time of succeeded experiments")
    histogram.add_metric([], buckets, sum(seconds for _, seconds in counts.durations.values()))
    return histogram


@blueprint.get("/metrics")
@declare("Prometheus metrics (text format): jobs by status, queue depth, run durations, HTTP requests", "getMetrics",
         {200: (None, "the metrics")}, errors=(503,), public=True,
         media={200: {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}})
def metrics() -> Response:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessLocalHttp())
    registry.register(JobCollector())
    # content_type, not mimetype: Flask would append a second charset to one that already has it.
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _ProcessLocalHttp:
    """The HTTP metrics of this process alone (single-process servers, tests)."""

    def collect(self) -> Iterator[Any]:
        yield from HTTP_REQUESTS.collect()
        yield from HTTP_LATENCY.collect()
