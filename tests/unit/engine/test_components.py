"""The pieces under the probe: φ', init schemes, data sets, minibatches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gradatlas.service.contracts.spec import Activation, ExperimentSpec, InitScheme
from gradatlas.worker.engine.activations import ACTIVATIONS
from gradatlas.worker.engine.data import BatchSampler, make_data
from gradatlas.worker.engine.models import build_model

from .specs import make_spec

ALL_ACTIVATIONS: tuple[str, ...] = Activation.__args__  # type: ignore[attr-defined]
ALL_SCHEMES: tuple[str, ...] = InitScheme.__args__  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
def test_derivative_matches_autograd_and_its_maximum(name: str) -> None:
    info = ACTIVATIONS[name]
    u = torch.linspace(-30, 30, 600_001, dtype=torch.float64)
    u = torch.cat([u, torch.tensor([0.0, 1.0, -1.0, 20.0], dtype=torch.float64)]).requires_grad_()
    (expected,) = torch.autograd.grad(info.make()(u).sum(), u)
    got = info.derivative(u.detach())
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(got == 0, expected == 0)  # "dead" means what autograd means
    assert expected.abs().max().item() == pytest.approx(info.max_derivative, rel=1e-6)


def spec_for(scheme: str, **init: float) -> ExperimentSpec:
    return make_spec({
        "model": {"depth": 2, "width": 400, "activation": "relu", "init": {"scheme": scheme, **init}},
        "data": {"input_dim": 300},
    })


@pytest.mark.parametrize(("scheme", "init", "variance"), [
    ("normal", {"weight_var": 2.5}, 2.5 / 300),
    ("uniform", {"weight_var": 2.5}, 2.5 / 300),
    ("glorot_standard", {}, 1 / (3 * 300)),
    ("xavier_normal", {"gain": 1.5}, 1.5**2 * 2 / 700),
    ("xavier_uniform", {}, 2 / 700),
    ("kaiming_normal", {}, 2 / 300),  # ReLU's gain √2
    ("kaiming_uniform", {"gain": 3.0}, 9 / 300),
    ("lecun_normal", {}, 1 / 300),
])
def test_weight_variance_of_each_scheme(scheme: str, init: dict, variance: float) -> None:
    w = build_model(spec_for(scheme, **init)).blocks()[0].linear.weight.detach()  # (400, 300)
    assert w.var().item() == pytest.approx(variance, rel=0.03)
    # The mean of n zero-mean draws has standard error σ/√n: within 4 of them (these seeded draws: 2.6).
    assert abs(w.mean().item()) < 4 * math.sqrt(variance / w.numel())


def test_uniform_schemes_are_bounded() -> None:
    w = build_model(spec_for("glorot_standard")).blocks()[0].linear.weight
    assert w.abs().max().item() <= 1 / math.sqrt(300)


def test_orthogonal_is_scaled_by_gain() -> None:
    w = build_model(spec_for("orthogonal", gain=1.7)).blocks()[1].linear.weight.detach()  # (400, 400)
    torch.testing.assert_close(w @ w.T, 1.7**2 * torch.eye(400, dtype=w.dtype), atol=1e-9, rtol=0)


@pytest.mark.parametrize("scheme", [s for s in ALL_SCHEMES if s != "default"])
def test_biases_are_drawn_from_bias_mean_and_var(scheme: str) -> None:
    model = build_model(spec_for(scheme, bias_mean=-0.5, bias_var=0.04))
    b = torch.cat([lin.bias.detach() for lin in model.linears()])
    assert b.mean().item() == pytest.approx(-0.5, abs=0.03) and b.std().item() == pytest.approx(0.2, rel=0.1)
    zero = build_model(spec_for(scheme)).readout.bias
    assert torch.all(zero == 0)


def test_default_is_pytorch_own_and_readout_shares_the_scheme() -> None:
    model = build_model(spec_for("default"))
    bound = 1 / math.sqrt(300)
    assert model.blocks()[0].linear.bias.abs().max().item() <= bound  # PyTorch's U(±1/√fan_in)
    assert model.blocks()[0].linear.weight.abs().max().item() <= bound
    readout = build_model(spec_for("normal", weight_var=4.0)).readout.weight  # (3, 400)
    assert readout.var().item() == pytest.approx(4.0 / 400, rel=0.2)


def test_init_is_seeded_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = build_model(spec_for("default")), build_model(spec_for("default"))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(a.blocks()[0].linear.weight, b.blocks()[0].linear.weight)


def test_gaussian_data() -> None:
    spec = make_spec({"data": {"name": "gaussian", "input_std": 3.0, "samples": 4000, "input_dim": 10}})
    data = make_data(spec.data, seed=0)
    assert data.x.shape == (4000, 10) and data.x.std().item() == pytest.approx(3.0, rel=0.03)
    assert set(data.y.tolist()) == {0, 1, 2}


def test_teacher_labels_are_deterministic_and_use_every_class() -> None:
    spec = make_spec({"data": {"name": "teacher", "samples": 3000, "classes": 4}})
    a, b = make_data(spec.data, seed=5), make_data(spec.data, seed=5)
    assert torch.equal(a.y, b.y) and torch.equal(a.x, b.x)
    counts = np.bincount(a.y.numpy(), minlength=4)
    assert counts.min() > 0.05 * 3000


def test_teacher_labels_do_not_depend_on_input_std() -> None:
    small = make_data(make_spec({"data": {"name": "teacher", "input_std": 1.0}}).data, seed=1)
    large = make_data(make_spec({"data": {"name": "teacher", "input_std": 50.0}}).data, seed=1)
    assert torch.equal(small.y, large.y)


def test_digits_are_standardised_and_subsampled() -> None:
    full = make_data(make_spec({"data": {"name": "digits", "input_dim": None, "classes": None, "samples": 2048}}).data, seed=0)
    assert full.x.shape == (1797, 64) and set(full.y.tolist()) == set(range(10))
    assert full.x.mean(dim=0).abs().max().item() < 1e-12
    stds = full.x.std(dim=0, correction=0)
    assert torch.all(((stds - 1).abs() < 1e-12) | (stds == 0))
    part = make_data(make_spec({"data": {"name": "digits", "input_dim": None, "classes": None, "samples": 100}}).data, seed=0)
    assert part.x.shape == (100, 64)


def test_a_bundled_table_is_read_once_and_no_run_can_change_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sklearn.datasets
    from gradatlas.worker.engine import data as data_module

    reads = []
    load_wine = sklearn.datasets.load_wine
    monkeypatch.setattr(sklearn.datasets, "load_wine", lambda: reads.append(1) or load_wine())
    data_module._sklearn_table.cache_clear()
    spec = make_spec({"data": {"name": "wine", "input_dim": None, "classes": None, "samples": 2048}}).data
    first = make_data(spec, seed=0)
    expected = first.x.clone()
    first.x.add_(1.0)  # a run writing into its own data
    assert torch.equal(make_data(spec, seed=0).x, expected) and len(reads) == 1
    data_module._sklearn_table.cache_clear()  # later tests read the real loader's table


def test_sampler_covers_each_epoch_without_replacement() -> None:
    sampler = BatchSampler(10, 3, torch.device("cpu"), seed=0)
    epoch = torch.cat([sampler.next() for _ in range(3)])  # 3 batches of 3; one example dropped
    assert len(set(epoch.tolist())) == 9
    big = BatchSampler(5, 128, torch.device("cpu"), seed=0)
    assert sorted(big.next().tolist()) == [0, 1, 2, 3, 4]
