"""The database, and the one way to it: nothing outside this package reads
or writes a table.

- `tables.py`   the SQLAlchemy models (Alembic's migrations match them)
- `session.py`  engines and the managed session (commit, roll back, close)
- `columns.py`  which spec and summary fields have their own indexed column
- `rows.py`     new rows from specs, rows to resources (`to_experiment`), profiles
- `gateway.py`  the Store: the experiment lifecycle, experiment and profile
                reads, and the execution of history queries
- `records.py`  edits (rename, retag, delete) and imported profiles
- `sweeps.py`, `tokens.py`, `web_sessions.py`, `metrics.py`  the sweeps,
                tokens and web sessions tables, and the job counts /metrics reports
- `durations.py`  the run-duration histogram's running totals (only ever grow)
- `migrate.py`  Alembic upgrades

Two modules outside name tables, and only to describe them: the history
query's field whitelist (service/search/fields.py) maps each queryable field
to its column, so compiling a filter needs no copy of the schema, and the
Store then executes what it compiled; Alembic's env (migrations/env.py)
reads the models' metadata. Neither opens a session.
"""
