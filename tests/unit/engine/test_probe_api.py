"""GradientProbe as a library object: attached to a user's own loop, and
present in the engine's loop only on recorded steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradatlas.worker.engine import GradientProbe, run_experiment
from torch import nn

from .specs import make_spec


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_probe_in_a_users_loop() -> None:
    torch.manual_seed(0)
    first, last = nn.Linear(4, 8).double(), nn.Linear(8, 2).double()
    model = nn.Sequential(first, nn.Tanh(), last)
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 2, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    probe = GradientProbe(model, metrics=["grad_norm", "signal_norm", "update_ratio"])
    assert [layer.name for layer in probe.layers] == ["0", "2"]
    with probe.watching():
        assert hook_count(model) == 2
        logits = model(x)
    assert hook_count(model) == 0  # nothing is left behind on the model
    loss = F.cross_entropy(logits, y)
    loss.backward()
    probe.after_backward()
    grads = [lin.weight.grad.norm().item() for lin in (first, last) if lin.weight.grad is not None]
    before = [lin.weight.detach().clone() for lin in (first, last)]
    optimizer.step()
    probe.after_step()
    row, (loss_value,) = probe.read(loss)
    np.testing.assert_allclose(row["grad_norm"], grads, rtol=1e-12)
    moved = [(lin.weight - w).norm().item() / w.norm().item() for lin, w in zip((first, last), before, strict=True)]
    np.testing.assert_allclose(row["update_ratio"], moved, rtol=1e-9)
    assert np.all(row["signal_norm"] > 0) and loss_value == loss.item()


def test_unknown_metric_is_rejected() -> None:
    with pytest.raises(ValueError, match="bogus"):
        GradientProbe(nn.Linear(2, 2), metrics=["bogus"])


def test_engine_watches_and_copies_only_on_recorded_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = {"watching": 0, "read": 0}
    watching, read = GradientProbe.watching, GradientProbe.read

    @contextmanager
    def counted_watching(self: GradientProbe) -> Iterator[None]:
        counts["watching"] += 1
        with watching(self):
            yield

    def counted_read(self: GradientProbe, *scalars: torch.Tensor) -> object:
        counts["read"] += 1
        return read(self, *scalars)

    monkeypatch.setattr(GradientProbe, "watching", counted_watching)
    monkeypatch.setattr(GradientProbe, "read", counted_read)
    result = run_experiment(make_spec({"training": {"steps": 23}, "probe": {"every": 5}}))
    assert result.steps == [0, 5, 10, 15, 20, 22]
    assert counts == {"watching": 6, "read": 6}
