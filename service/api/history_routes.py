"""The team-history blueprints (edit, compare, sweeps, imports), registered from one place so the
app factory changes by a single call."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from gradatlas.service.api import compare, edits, imports, sweeps

    app.register_blueprint(edits.blueprint)
    app.register_blueprint(compare.blueprint)
    app.register_blueprint(sweeps.blueprint)
    app.register_blueprint(imports.blueprint)
