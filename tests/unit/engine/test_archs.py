"""The archs beyond the mlp: their layers, their initialisation, and that the
probe's metrics on them equal a hand computation (one backward pass per
example for per-sample norms, the closed form for a linear RNN in time)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.worker.engine import run_experiment
from gradatlas.worker.engine.data import make_data
from gradatlas.worker.engine.models import build_model
from gradatlas.worker.engine.seeding import derive_seed

from .specs import make_spec

WHOLE_BATCH = {"samples": 6, "batch_size": 6}
ARCHS: dict[str, dict[str, Any]] = {
    "resmlp": {"model": {"arch": "resmlp", "depth": 2, "norm": "layernorm"}},
    "cnn": {"model": {"arch": "cnn", "depth": 2, "width": 3}, "data": {"input_dim": 16}},
    "rnn": {"model": {"arch": "rnn", "depth": 2, "cell": "rnn"}, "data": {"name": "sequence", "seq_len": 4}},
    "lstm": {"model": {"arch": "rnn", "depth": 1, "cell": "lstm"}, "data": {"name": "tokens", "input_dim": 5, "seq_len": 3}},
    "gru": {"model": {"arch": "rnn", "depth": 1, "cell": "gru"}, "data": {"name": "sequence", "seq_len": 3}},
    "transformer": {"model": {"arch": "transformer", "depth": 2, "heads": 2}, "data": {"name": "tokens", "input_dim": 7, "seq_len": 4}},
}


def exact_spec(patch: dict[str, Any]) -> ExperimentSpec:
    data = {**patch.get("data", {}), **WHOLE_BATCH}
    return make_spec({**patch, "data": data, "training": {"steps": 0}, "dtype": "float64"})


def reference(spec: ExperimentSpec) -> dict[str, np.ndarray]:
    """grad_norm from autograd on the batch; per-sample norms from one backward per example."""
    model = build_model(spec)
    data = make_data(spec.data, derive_seed(spec.seed, "data"))
    weights = [p.linear.weight for p in model.probe_layers()]
    F.cross_entropy(model(data.x), data.y).backward()
    grad = [w.grad.norm().item() for w in weights]
    squares = np.zeros(len(weights))
    for a in range(len(data)):
        clone = copy.deepcopy(model)
        clone.zero_grad()
        F.cross_entropy(clone(data.x[a : a + 1]), data.y[a : a + 1]).backward()
        squares += [p.linear.weight.grad.norm().item() ** 2 for p in clone.probe_layers()]
    return {"grad_norm": np.array(grad), "per_sample_grad_norm": np.sqrt(squares / len(data))}


@pytest.mark.parametrize("arch", list(ARCHS))
def test_weight_and_per_sample_gradients_match_autograd(arch: str) -> None:
    spec = exact_spec(ARCHS[arch])
    result = run_experiment(spec)
    expected = reference(spec)
    for metric, values in expected.items():
        np.testing.assert_allclose(result.metrics[metric][0], values, rtol=1e-9, err_msg=metric)
    assert np.all(result.metrics["signal_norm"][0] > 0)
    assert result.summary["verdict"] in ("healthy", "vanishing", "exploding")


def test_layer_names_follow_the_blocks() -> None:
    names = [layer["name"] for layer in run_experiment(exact_spec(ARCHS["transformer"])).layers]
    assert names[:8] == ["embed", "block.0.attn.q", "block.0.attn.k", "block.0.attn.v", "block.0.attn.o",
                         "block.0.mlp.fc1", "block.0.mlp.fc2", "block.1.attn.q"]
    assert names[-1] == "readout" and len(names) == 1 + 2 * 6 + 1
    cnn = run_experiment(exact_spec(ARCHS["cnn"])).layers
    assert [(layer["name"], layer["kind"], layer["shape"]) for layer in cnn] == [
        ("conv.0", "conv", [3, 1, 3, 3]), ("conv.1", "conv", [3, 3, 3, 3]), ("readout", "linear", [3, 3])]


@pytest.mark.parametrize("rho", [0.8, 1.0, 1.25])
def test_linear_rnn_time_signal_is_rho_to_the_distance(rho: float) -> None:
    """docs/science.md: with W_hh = ρQ (Q orthogonal) and the loss on h_T only,
    ‖∂L/∂h_t‖ = ρ^(T−t) ‖∂L/∂h_T‖ exactly."""
    spec = make_spec({
        "model": {"arch": "rnn", "depth": 1, "width": 16, "activation": "identity",
                  "init": {"scheme": "normal", "recurrent": {"scheme": "orthogonal", "gain": rho}}},
        "data": {"name": "sequence", "seq_len": 12, **WHOLE_BATCH}, "training": {"steps": 0}, "dtype": "float64",
    })
    w_hh = build_model(spec).rnns[0].recurrent.weight.detach()
    np.testing.assert_allclose(torch.linalg.svdvals(w_hh).numpy(), rho, rtol=1e-12)
    result = run_experiment(spec)
    time_signal = result.metrics["time_signal_norm"][0]
    np.testing.assert_allclose(time_signal / time_signal[-1], rho ** np.arange(11, -1, -1), rtol=1e-9)
    assert result.summary["layer_gain_init"] == pytest.approx(rho, rel=1e-9)
    assert result.summary["signal_ratio_init"] == pytest.approx(rho**11, rel=1e-9)


def test_lstm_gates_are_initialised_one_by_one() -> None:
    spec = exact_spec({"model": {"arch": "rnn", "cell": "lstm", "width": 4, "depth": 1,
                                 "init": {"scheme": "normal", "recurrent": {"scheme": "orthogonal", "gain": 0.5}}},
                       "data": {"name": "sequence", "seq_len": 2}})
    w_hh = build_model(spec).rnns[0].recurrent.weight.detach()  # (4 gates · 4, 4)
    for gate in w_hh.chunk(4):
        np.testing.assert_allclose((gate @ gate.T).numpy(), 0.25 * np.eye(4), atol=1e-12)


def test_every_data_set_loads_standardised() -> None:
    for name, dim, classes in (("iris", 4, 3), ("wine", 13, 3), ("breast_cancer", 30, 2), ("spirals", 2, 2)):
        spec = make_spec({"data": {"name": name, "input_dim": None, "classes": None, "samples": 10000}})
        data = make_data(spec.data, 0)
        assert data.x.shape[1] == dim and int(data.y.max()) == classes - 1, name
        np.testing.assert_allclose(data.x.std(dim=0, correction=0).numpy(), 1.0, rtol=1e-9)
    tokens = make_data(make_spec({"data": {"name": "tokens", "input_dim": 9, "seq_len": 5}}).data, 0)
    assert tokens.x.dtype == torch.long and tokens.x.shape == (64, 5) and int(tokens.x.max()) <= 8


def test_a_float32_cnn_takes_the_fast_per_example_path_to_the_same_norms() -> None:
    """The CPU float32 path (per-example conv gradients in float32, range-checked)
    agrees with the float64 hand computation on the same weights and data."""
    spec = exact_spec(ARCHS["cnn"]).model_copy(update={"dtype": "float32"})
    result = run_experiment(spec)
    np.testing.assert_allclose(result.metrics["per_sample_grad_norm"][0], reference(exact_spec(ARCHS["cnn"]))["per_sample_grad_norm"], rtol=1e-5)
