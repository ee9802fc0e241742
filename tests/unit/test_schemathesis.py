"""schemathesis against our own /api/openapi.json, in process over WSGI,
every operation, every default check, with a valid token: the running API
must agree with the document it publishes and never answer 5xx."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from gradatlas.service.api import create_app
from gradatlas.service.api.openapi import openapi_document
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.migrate import upgrade
from hypothesis import HealthCheck, given, settings

from tests.support import SERVICES_BROKER_URL, SERVICES_DATABASE_URL, fresh_broker, fresh_database


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The app on the backend CI names (a fresh PostgreSQL database, a flushed
    Redis for the rate limiter's counters) or the embedded SQLite ones."""
    home: Path = tmp_path_factory.mktemp("schemathesis")
    with fresh_database(home, SERVICES_DATABASE_URL) as database_url:
        app_settings = Settings(home=home, database_url=database_url,
                                broker_url=fresh_broker(home, SERVICES_BROKER_URL), pepper="p",
                                rate_limit_per_minute=10**9, rate_limit_submits_per_minute=10**9, failed_auth_per_minute=10**9)
        upgrade(database_url)
        store = Store.from_url(database_url)
        try:
            yield _app_with_a_token(app_settings, store)
        finally:
            store.engine.dispose()


def _app_with_a_token(app_settings: Settings, store: Store):  # type: ignore[no-untyped-def]
    app = create_app(app_settings, store=store, enqueue=lambda *_: None)
    _, token = app.extensions["gradatlas"].tokens.create("fuzzer", is_admin=True)
    store.create_experiment(ExperimentSpec.model_validate({"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}}),
                            "fuzzer", "cpu")
    return app, {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_schema(served):  # type: ignore[no-untyped-def]
    app, _ = served
    # docs/api.md answers some schema-valid requests 422 on purpose: a spec over the
    # quota or for an arch not supported yet, a page_token this service never
    # issued. Every other default check stays as schemathesis ships it.
    config = schemathesis.Config.from_str(
        '[generation]\nmode = "all"\n\n'  # schema-violating (negative) requests too
        '[checks.positive_data_acceptance]\nexpected-statuses = ["2xx", "3xx", 401, 403, 404, 409, 422, 429, "5xx"]\n')
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=config)


FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "schemathesis.jsonl"


def _documented_operations() -> list[str]:
    """The document reads the routes of an app: build one (nothing is served or stored)."""
    home = Path(tempfile.mkdtemp(prefix="gradatlas-openapi-"))
    app = create_app(Settings(home=home, pepper="p"), store=Store.from_url(f"sqlite:///{home / 'unused.db'}"),
                     enqueue=lambda *_: None)
    with app.app_context():
        paths = openapi_document()["paths"]
    shutil.rmtree(home, ignore_errors=True)
    return sorted(f"{method.upper()} {path}" for path, ops in paths.items() for method in ops)


# Parametrised from the document itself, so a new route is fuzzed the day it is documented.
OPERATIONS = _documented_operations()


def test_every_operation_of_the_document_is_fuzzed(api_schema):  # type: ignore[no-untyped-def]
    assert sorted(op.ok().label for op in api_schema.get_all_operations()) == sorted(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_api_conforms_to_its_openapi_document(label, api_schema, served):  # type: ignore[no-untyped-def]
    """Drives schemathesis' Hypothesis strategy per operation (its pytest
    plugin does not run under pytest 9)."""
    _, headers = served
    operation = next(op.ok() for op in api_schema.get_all_operations() if op.ok().label == label)

    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case):  # type: ignore[no-untyped-def]
        statuses.append(case.call_and_validate(headers=headers).status_code)

    check()
    assert statuses and not [s for s in statuses if s >= 500]  # parameterless operations have one distinct request
    FIGURES.parent.mkdir(exist_ok=True)
    with open(FIGURES, "a") as out:
        out.write(json.dumps({"operation": label, "requests": len(statuses), "4xx": sum(400 <= s < 500 for s in statuses),
                              "5xx": sum(s >= 500 for s in statuses)}) + "\n")
