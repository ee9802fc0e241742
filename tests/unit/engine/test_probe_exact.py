"""Every recorded metric equals an independent hand computation.

A tiny float64 MLP whose minibatch is its whole data set (every metric is
invariant to the order of examples). The reference redoes the forward pass
layer by layer with plain autograd: retain_grad on z for the signal,
autograd for φ', a loop over examples for per-sample gradients, and the SGD
update written out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradatlas.worker.engine import run_experiment
from gradatlas.worker.engine.data import make_data
from gradatlas.worker.engine.mlp import MLP
from gradatlas.worker.engine.models import build_model
from gradatlas.worker.engine.seeding import derive_seed
from torch import Tensor

from .specs import make_spec

PHI: dict[str, tuple[Callable[[Tensor], Tensor], float]] = {
    "tanh": (torch.tanh, 1.0),
    "relu": (torch.relu, 1.0),
    "sigmoid": (torch.sigmoid, 0.25),
    "hardtanh": (F.hardtanh, 1.0),
}
LR = 0.1
CASES = [
    # activation, norm, loss, weight_var, bias_mean: chosen so dead and
    # saturated units actually occur
    ("tanh", "none", "cross_entropy", 25.0, 0.0),
    ("relu", "none", "mse", 2.0, -1.0),
    ("sigmoid", "layernorm", "cross_entropy", 1.0, 0.0),
    ("sigmoid", "none", "cross_entropy", 36.0, 0.0),
    ("hardtanh", "batchnorm", "mse", 4.0, 0.5),
]


def tiny_spec(activation: str, norm: str, loss: str, weight_var: float, bias_mean: float) -> Any:
    return make_spec({
        "model": {"depth": 3, "width": 5, "activation": activation, "norm": norm,
                  "init": {"scheme": "normal", "weight_var": weight_var, "bias_var": 0.1, "bias_mean": bias_mean}},
        "data": {"input_dim": 4, "classes": 3, "samples": 6, "batch_size": 6},
        "training": {"steps": 1, "optimizer": "sgd", "lr": LR, "loss": loss},
        "dtype": "float64", "seed": 3,
    })


def grad_of(t: Tensor) -> Tensor:
    assert t.grad is not None
    return t.grad


def loss_of(kind: str, logits: Tensor, y: Tensor) -> Tensor:
    if kind == "cross_entropy":
        return F.cross_entropy(logits, y)
    return F.mse_loss(logits, torch.eye(logits.shape[1], dtype=logits.dtype)[y])


def forward(model: MLP, x: Tensor, phi: Callable[[Tensor], Tensor]) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Layer by layer, keeping what the reference needs."""
    records = []
    h = x
    for block in model.blocks():
        w, b = block.linear.weight, block.linear.bias
        z = h @ w.T + b
        z.retain_grad()
        u = block.norm(z)
        a = phi(u)
        records.append({"x": h, "z": z, "u": u.detach(), "a": a.detach()})
        h = a
    logits = h @ model.readout.weight.T + model.readout.bias
    logits.retain_grad()
    records.append({"x": h, "z": logits, "u": None, "a": logits.detach()})
    return logits, records


def reference(spec: Any) -> dict[str, np.ndarray]:
    activation = spec.model.activation
    phi, phi_max = PHI[activation]
    model = build_model(spec)
    data = make_data(spec.data, derive_seed(spec.seed, "data"))
    x, y = data.x, data.y  # the whole data set is the one batch
    batch = x.shape[0]
    linears = model.linears()
    logits, records = forward(model, x, phi)
    loss_of(spec.training.loss, logits, y).backward()
    out: dict[str, list[float]] = {m: [] for m in (
        "grad_norm", "bias_grad_norm", "signal_norm", "weight_norm", "update_ratio", "act_mean",
        "act_std", "per_sample_grad_norm", "dead_fraction", "saturated_fraction")}
    for lin, rec in zip(linears, records, strict=True):
        w, g = lin.weight.detach(), grad_of(lin.weight)
        out["grad_norm"].append(g.norm().item())
        out["bias_grad_norm"].append(grad_of(lin.bias).norm().item())
        out["signal_norm"].append(grad_of(rec["z"]).norm().item())
        out["weight_norm"].append(w.norm().item())
        out["update_ratio"].append(((w - LR * g) - w).norm().item() / w.norm().item())
        out["act_mean"].append(rec["a"].mean().item())
        out["act_std"].append(rec["a"].std(correction=0).item())
        # per-example gradient as an explicit outer product B·δ_a x_aᵀ
        delta, inp = grad_of(rec["z"]), rec["x"].detach()
        per = [torch.outer(batch * delta[a], inp[a]).norm().item() for a in range(batch)]
        out["per_sample_grad_norm"].append(float(np.sqrt(np.mean(np.square(per)))))
        if rec["u"] is None:
            out["dead_fraction"].append(0.0)
            out["saturated_fraction"].append(0.0)
            continue
        u = rec["u"].clone().requires_grad_()
        (deriv,) = torch.autograd.grad(phi(u).sum(), u)
        out["dead_fraction"].append((deriv == 0).all(dim=0).double().mean().item())
        out["saturated_fraction"].append((deriv.abs() < 0.01 * phi_max).double().mean().item())
    if spec.model.norm != "batchnorm":  # examples are independent: ℓ_a on its own
        out["per_sample_grad_norm"] = per_example_loop(spec, model, x, y, phi)
    return {k: np.array(v) for k, v in out.items()}


def per_example_loop(spec: Any, model: MLP, x: Tensor, y: Tensor, phi: Callable[[Tensor], Tensor]) -> list[float]:
    """RMS over examples of ‖∂ℓ_a/∂W‖_F, one backward pass per example."""
    squares = np.zeros(len(model.linears()))
    for a in range(x.shape[0]):
        clone = copy.deepcopy(model)
        clone.zero_grad()
        logits, _ = forward(clone, x[a : a + 1], phi)
        loss_of(spec.training.loss, logits, y[a : a + 1]).backward()
        squares += [grad_of(lin.weight).norm().item() ** 2 for lin in clone.linears()]
    return list(np.sqrt(squares / x.shape[0]))


@pytest.mark.parametrize("case", CASES, ids=[c[0] + "-" + c[1] for c in CASES])
def test_every_metric_matches_hand_computation(case: tuple) -> None:
    spec = tiny_spec(*case)
    result = run_experiment(spec)
    expected = reference(spec)
    assert result.steps == [0]
    assert set(result.metrics) == set(expected)
    for metric, values in expected.items():
        got = result.metrics[metric]
        assert got.shape == (1, 4) and got.dtype == np.float64
        np.testing.assert_allclose(got[0], values, rtol=1e-9, atol=1e-12, err_msg=metric)


def test_cases_exercise_dead_and_saturated_units() -> None:
    """The comparison above would be vacuous if every fraction were 0."""
    dead = reference(tiny_spec(*CASES[1]))["dead_fraction"]
    saturated = reference(tiny_spec(*CASES[0]))["saturated_fraction"]
    assert dead[:3].max() > 0 and saturated[:3].max() > 0


def test_per_sample_norm_bounds_the_batch_gradient() -> None:
    """‖mean_a g_a‖ ≤ RMS_a ‖g_a‖: a scale error in either would break this."""
    result = run_experiment(tiny_spec(*CASES[0]))
    assert np.all(result.metrics["per_sample_grad_norm"] >= result.metrics["grad_norm"] * (1 - 1e-12))
