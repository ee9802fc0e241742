"""GradAtlas's engine: pure PyTorch, no Flask, Celery or SQLAlchemy.

    from gradatlas.worker.engine import run_experiment
    result = run_experiment(spec, on_step=lambda done, total: ...)

`run_experiment` builds the spec's network, trains it while a GradientProbe
records the per-layer profile, and returns it with its summary.
"""

from gradatlas.service.science.analysis import summarise
from gradatlas.worker.engine.probe import GradientProbe, ProbedLayer
from gradatlas.worker.engine.train import RunResult, run_experiment

__all__ = ["GradientProbe", "ProbedLayer", "RunResult", "run_experiment", "summarise"]
