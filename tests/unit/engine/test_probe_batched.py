"""The batched reductions (probe_batched) and the float32 fast norms
(probe_stats.norms64) give what the per-layer, float64 formulas give."""

from __future__ import annotations

import pytest
import torch
from gradatlas.worker.engine.activations import activation_info
from gradatlas.worker.engine.probe_batched import ActItem, Workspace, fill_rows
from gradatlas.worker.engine.probe_batched import activation_stats as batched
from gradatlas.worker.engine.probe_stats import RowNorms, _exact, _tanh_saturation, activation_stats, norms64


@pytest.mark.parametrize("name", ["tanh", "relu", "sigmoid", "gelu", "hardtanh"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batched_stats_equal_per_layer_stats(name: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    info = activation_info(name)
    phi = info.make()
    # large scales saturate tanh/sigmoid; a negative shift kills ReLU units; the last layer is
    # nearly constant, whose small std E[a²] − E[a]² in float32 would lose entirely
    us = [(torch.randn(16, 6, dtype=dtype) * scale + shift) for scale, shift in [(1, 0), (30, 0), (3, -8), (0.5, 2), (1e-3, 1)]]
    us[2][:, 0] = -50.0  # a unit dead (ReLU, hardtanh) or saturated for every example
    items = [ActItem(i, phi(u), u, info.derivative, info.max_derivative, 1) for i, u in enumerate(us)]
    (indices, stats), = batched(items, RowNorms(), Workspace())
    assert indices == [0, 1, 2, 3, 4]
    for it in items:
        want = activation_stats(it.a, it.u, info.derivative, info.max_derivative)  # the float64-copy path
        torch.testing.assert_close(stats[:, it.index], torch.stack(want), rtol=1e-5 if dtype == torch.float32 else 1e-12,
                                   atol=1e-7 if dtype == torch.float32 else 1e-15)
    if name in ("relu", "hardtanh"):
        assert stats[2].max() > 0  # the cases really contain dead units
    if name != "gelu":
        assert stats[3].max() > 0  # and saturated ones


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tanh_saturation_threshold_is_exact(dtype: torch.dtype) -> None:
    """a² ≥ c is the same set as 1 − a² < 0.01, also at the values right next to c."""
    c = torch.tensor(_tanh_saturation(dtype, 0.01), dtype=dtype)
    around = [c]
    for _ in range(3):
        around = [torch.nextafter(around[0], torch.zeros_like(c)), *around, torch.nextafter(around[-1], torch.ones_like(c))]
    q = torch.stack(around)
    assert torch.equal(q >= c, (1 - q) < torch.tensor(0.01, dtype=dtype))
    assert (q >= c).any() and not (q >= c).all()


def test_fast_norms_fall_back_where_float32_squares_underflow_or_overflow() -> None:
    tiny, huge, zero = torch.full((64, 64), 1e-30), torch.full((8,), 1e25), torch.zeros(3, 3)
    normal = torch.randn(32, 32)
    got = norms64([tiny, normal, huge, zero])
    want = torch.stack([_exact(t) for t in (tiny, normal, huge, zero)])
    assert float(got[0]) > 0 and float(got[2]) < float("inf")
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)
    assert torch.isnan(norms64([torch.tensor([float("nan"), 1.0])]))[0]


def test_row_norms_of_tiny_rows_read_in_float64() -> None:
    rows = RowNorms()
    small, ordinary = torch.full((4, 10), 1e-25), torch.randn(4, 10)
    fill_rows([small, ordinary, torch.randn(4, 10)], rows, Workspace())
    torch.testing.assert_close(rows(small), torch.full((4,), 1e-25 * 10**0.5, dtype=torch.float64))
    torch.testing.assert_close(rows(ordinary), torch.linalg.vector_norm(ordinary.double(), dim=1))


FLOAT32_CASES = {
    "mlp-tanh": {"model": {"depth": 6, "width": 16, "activation": "tanh"}},
    "mlp-relu": {"model": {"depth": 6, "width": 16, "activation": "relu"}},
    "mlp-gelu-layernorm": {"model": {"depth": 4, "width": 16, "activation": "gelu", "norm": "layernorm"}},
    "cnn": {"model": {"arch": "cnn", "depth": 3, "width": 4, "activation": "relu"}, "data": {"input_dim": 16}},
    "lstm": {"model": {"arch": "rnn", "cell": "lstm", "depth": 1, "width": 8}, "data": {"name": "sequence", "seq_len": 4}},
}


@pytest.mark.parametrize("case", list(FLOAT32_CASES))
def test_float32_fast_paths_agree_with_float64(case: str) -> None:
    """The float32 reductions (foreach norms, stacked rows, float32 per-example
    products) read what the float64 run of the same net reads."""
    from gradatlas.worker.engine import run_experiment

    from .specs import make_spec

    patch = {**FLOAT32_CASES[case], "training": {"steps": 2}, "probe": {"every": 1}}
    f32, f64 = (run_experiment(make_spec({**patch, "dtype": d})) for d in ("float32", "float64"))
    for metric, values in f64.metrics.items():
        if metric in ("dead_fraction", "saturated_fraction"):
            torch.testing.assert_close(f32.metrics[metric], values, rtol=0, atol=0.05, msg=metric)
        else:
            torch.testing.assert_close(f32.metrics[metric], values, rtol=2e-3, atol=1e-9, msg=metric)
