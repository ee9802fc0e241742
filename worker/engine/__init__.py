"""GradAtlas's engine: pure PyTorch, no Flask, Celery or SQLAlchemy.

    from worker.engine import run_experiment
    result = run_experiment(spec, on_step=lambda done, total: ...)

`run_experiment` builds the spec's network, trains it while a GradientProbe
records the per-layer profile, and returns it with its summary.
"""

from worker.engine.analysis import summarise
from worker.engine.probe import GradientProbe, ProbedLayer
from worker.engine.train import RunResult, run_experiment

__all__ = ["GradientProbe", "ProbedLayer", "RunResult", "run_experiment", "summarise"]
