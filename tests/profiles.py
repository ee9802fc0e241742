"""Finished experiments with synthetic but realistic profiles, written
straight into a store: the figure and page tests need a vanishing deep net
without waiting for a worker to train one."""

from __future__ import annotations

from typing import Any

import numpy as np
from gradatlas.service.contracts.resources import Experiment
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.store.gateway import Store

METRICS = ("grad_norm", "signal_norm", "dead_fraction", "saturated_fraction", "act_mean")


def vanishing_profile(depth: int = 12, steps: tuple[int, ...] = (0, 10, 20), gain: float = 0.37) -> dict[str, Any]:
    """Signal that shrinks by `gain` per layer towards the input, as a deep
    sigmoid net's does; `depth` hidden layers plus the read-out."""
    layers = depth + 1
    decay = gain ** np.arange(layers - 1, -1, -1, dtype=np.float64)  # input side smallest
    rows = np.stack([decay * (1.0 + 0.1 * i) for i in range(len(steps))])
    metrics = {
        "grad_norm": rows * 2.0, "signal_norm": rows,
        "dead_fraction": np.zeros((len(steps), layers)), "saturated_fraction": np.full((len(steps), layers), 0.05),
        "act_mean": np.full((len(steps), layers), 0.5),
    }
    return {"layers": [{"index": i, "name": f"hidden.{i}" if i < depth else "readout", "kind": "linear", "shape": [8, 8]}
                       for i in range(layers)],
            "steps": list(steps), "loss": [2.3 - 0.01 * i for i in range(len(steps))],
            "accuracy": [0.1 + 0.01 * i for i in range(len(steps))], "metrics": metrics,
            "theory": {"q_star": 0.6, "chi1": 0.35 ** 2, "gain": 0.35, "depth_scale": 0.95}, "total_steps": steps[-1]}


def vanishing_summary(depth: int = 12, gain: float = 0.37) -> dict[str, Any]:
    return {"verdict": "vanishing", "signal_ratio_init": gain ** (depth - 1), "grad_ratio_init": gain ** (depth - 1),
            "grad_ratio_final": gain ** (depth - 1), "layer_gain_init": gain, "first_nonfinite": None,
            "final_loss": 2.28, "final_accuracy": 0.12, "theory_gain": 0.35, "note": None,
            "thresholds": {"vanishing": 1e-3, "exploding": 1e3},
            "remedies": [{"title": "Initialise at the edge of chaos", "patch": {"model": {"init": {"weight_var": 103.05}}},
                          "predicted": {"signal_ratio_init": 1.0}}]}


def finished_experiment(store: Store, name: str = "deep-sigmoid", depth: int = 12, owner: str = "alice") -> Experiment:
    spec = ExperimentSpec.model_validate({
        "name": name, "model": {"arch": "mlp", "depth": depth, "width": 8, "activation": "sigmoid",
                                "init": {"scheme": "normal", "weight_var": 1.0}},
        "training": {"steps": 20}})
    experiment = store.create_experiment(spec, owner=owner, queue="cpu")
    claim = store.claim(experiment.id, {"worker": "test"})
    assert claim is not None
    assert store.complete(claim, vanishing_profile(depth), vanishing_summary(depth), {"torch": "test"})
    found = store.get_experiment(experiment.id)
    assert found is not None
    return found
