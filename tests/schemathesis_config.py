"""The Schemathesis configuration both fuzzing tests share (in process, and
`st run` against a live `gradatlas up`): which statuses a schema-valid request
may get. Every other check runs as Schemathesis ships it."""

from __future__ import annotations

import json

# Schema-valid requests the API refuses on purpose (422), by operation, with
# why: rules the OpenAPI document cannot state. Any other refusal of valid data
# fails; no status is widened beyond what the document declares for the route.
REFUSED_VALID_DATA = {
    "GET /api/v1/experiments": "the filter language and order_by are parsed by the API, page_token is signed",
    "GET /api/v1/sweeps": "page_token is signed: only one this list issued is accepted",
    "GET /api/v1/tokens": "page_token is signed: only one this list issued is accepted",
    "GET /api/v1/compare": "ids is a comma list of 2 to 10 different ids",
    "GET /api/v1/experiments/{experiment_id}/plot.png": "the metric must be one the experiment recorded",
    "GET /api/v1/experiments/{experiment_id}/plot.svg": "the metric must be one the experiment recorded",
    "GET /api/v1/experiments/{experiment_id}/plot.pdf": "the metric must be one the experiment recorded",
    "POST /api/v1/experiments": "an arch reads some data sets only; the quota (docs/api.md)",
    "POST /api/v1/sweeps": "the base is partial: each point is checked whole; 1 to MAX_POINTS points",
    "POST /api/v1/imports": "the profile's arrays have one value per step and layer",
}
# Slower than Schemathesis' default 10 s response-time limit, with why.
SLOW_OPERATIONS = {
    "POST /api/v1/sweeps": (60, "up to 1000 points stored and published in one request; one broker message "
                                "each on the embedded SQLite broker"),
}
# Anywhere: an id that names nothing (404), a state that forbids the change (409).
VALID_BUT_ABSENT_OR_CONFLICTING = [404, 409]


def config_toml() -> str:
    """The schemathesis.toml of both tests."""
    valid = ["2xx", *VALID_BUT_ABSENT_OR_CONFLICTING]
    # Positive and negative data; the token is sent by the caller, so a negative case never drops it.
    lines = ['[generation]', 'mode = "all"', 'with-security-parameters = false', '',
             '[checks.positive_data_acceptance]', f'expected-statuses = {json.dumps(valid)}']
    for label in sorted(set(REFUSED_VALID_DATA) | set(SLOW_OPERATIONS)):  # one entry per operation
        lines += ['', '[[operations]]', f'include-name = {json.dumps(label)}']
        if label in REFUSED_VALID_DATA:
            lines.append(f'checks.positive_data_acceptance.expected-statuses = {json.dumps([*valid, 422])}')
        if label in SLOW_OPERATIONS:
            lines.append(f'checks.max_response_time = {SLOW_OPERATIONS[label][0]}')
    return "\n".join(lines) + "\n"
