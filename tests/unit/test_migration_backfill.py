"""Migration 0002 on a database that already holds experiments: their tags
and hot fields are copied out of the JSON, so history queries see old rows."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.search.history import query_experiments
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.migrate import alembic_config
from gradatlas.service.store.session import make_engine
from sqlalchemy import text


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
