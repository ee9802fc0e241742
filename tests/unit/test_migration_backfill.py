"""Migration 0002 on a database that already holds experiments: their tags
and hot fields are copied out of the JSON, so history queries see old rows;
and a downgrade and upgrade keep every sweep's points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.search.history import query_experiments
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.migrate import alembic_config
from gradatlas.service.store.session import make_engine
from gradatlas.service.store.sweeps import insert_sweep, read_sweep
from gradatlas.service.store.tables import Base
from sqlalchemy import inspect, text


def test_upgrade_from_0001_backfills_tags_and_hot_columns(database_url):
    command.upgrade(alembic_config(database_url), "0001")
    spec = ExperimentSpec.model_validate({"model": {"arch": "mlp", "depth": 4, "width": 8, "activation": "relu",
                                                    "init": {"weight_var": 2.0}}, "training": {"lr": 0.5, "optimizer": "adam"}})
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO experiments (id, name, tags, notes, owner, source, queue, status, attempt, cancel_requested, "
            "progress_step, progress_total, spec, summary, created_at, arch, depth, width, activation, init_scheme, verdict) "
            "VALUES ('old1', 'old', :tags, '', 'alice', 'service', 'cpu', 'succeeded', 1, false, 1, 1, :spec, :summary, :now, "
            "'mlp', 4, 8, 'relu', 'default', 'healthy')"),
            {"tags": '["lecture", "old"]', "spec": spec.model_dump_json(), "summary": '{"verdict": "healthy", "final_loss": 1.5}',
             "now": datetime.now(UTC)})
    engine.dispose()
    command.upgrade(alembic_config(database_url), "head")
    store = Store.from_url(database_url)
    for filter_text in ("tags CONTAINS 'lecture'", "training.lr = 0.5 AND training.optimizer = 'adam'",
                        "model.init.weight_var = 2 AND summary.final_loss = 1.5"):
        assert [e.id for e in query_experiments(store, filter_text, pepper="test").items] == ["old1"], filter_text
    store.engine.dispose()


def test_upgrade_from_0002_counts_the_runs_that_succeeded_into_the_duration_totals(database_url):
    """The run-duration counter carries on from the rows' count (imports and unfinished runs are not runs)."""
    command.upgrade(alembic_config(database_url), "0002")
    spec = ExperimentSpec.model_validate({"model": {"arch": "mlp", "depth": 2, "width": 4, "activation": "relu"}})
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    rows = [("run1", "service", "succeeded", 0.25), ("run2", "service", "succeeded", 7.0), ("run3", "service", "succeeded", 7.5),
            ("imp1", "import", "succeeded", 0.0), ("fail1", "service", "failed", 3.0)]
    engine = make_engine(database_url)
    with engine.begin() as connection:
        for experiment_id, source, status, seconds in rows:
            connection.execute(text(
                "INSERT INTO experiments (id, name, tags, notes, owner, source, queue, status, attempt, cancel_requested, "
                "progress_step, progress_total, spec, created_at, started_at, finished_at, arch, depth, width, activation, "
                "init_scheme) VALUES (:id, '', '[]', '', 'alice', :source, 'cpu', :status, 1, false, 1, 1, :spec, :start, "
                ":start, :end, 'mlp', 2, 4, 'relu', 'default')"),
                {"id": experiment_id, "source": source, "status": status, "spec": spec.model_dump_json(), "start": start,
                 "end": start + timedelta(seconds=seconds)})
    command.upgrade(alembic_config(database_url), "head")
    with engine.connect() as connection:
        totals = dict(connection.execute(text("SELECT le, runs FROM run_durations")).all())
        seconds = connection.execute(text("SELECT SUM(seconds) FROM run_durations")).scalar()
    engine.dispose()
    assert totals == {"0.5": 1, "10.0": 2}
    assert seconds == pytest.approx(14.75)


def _sweep_state(store: Store, sweep_id: str) -> tuple:
    sweep = read_sweep(store, sweep_id)
    assert sweep is not None
    return (sweep.name, sweep.owner, sweep.axes, sweep.n_points, sweep.created_at,
            [(point.index, point.experiment_id) for point in sweep.points or []])


def test_downgrade_then_upgrade_keeps_every_sweeps_points(database_url):
    """The sweep linkage is not in the JSON the back-fill reads: the
    downgrade keeps it aside and the upgrade puts it back."""
    config = alembic_config(database_url)
    command.upgrade(config, "head")
    store = Store.from_url(database_url)
    specs = [ExperimentSpec.model_validate({"model": {"arch": "mlp", "depth": depth, "width": 8, "activation": "relu"}})
             for depth in (2, 3, 4)]
    sweeps = [insert_sweep(store, name=name, owner="alice", base={}, axes=["model.depth"],
                           definition={"grid": {"model.depth": [2, 3, 4]}}, points=[(spec, "cpu") for spec in specs])[0]
              for name in ("first", "second")]
    before = {sweep_id: _sweep_state(store, sweep_id) for sweep_id in sweeps}
    store.engine.dispose()

    command.downgrade(config, "0001")  # through every later revision, 0002 (the sweeps) included
    command.upgrade(config, "head")

    store = Store.from_url(database_url)
    assert {sweep_id: _sweep_state(store, sweep_id) for sweep_id in sweeps} == before
    assert all(len(state[-1]) == 3 for state in before.values())
    with store.engine.connect() as connection:
        assert not {"downgraded_sweeps", "downgraded_sweep_points"} & set(inspect(connection).get_table_names())
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    store.engine.dispose()
