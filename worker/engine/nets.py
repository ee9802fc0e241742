"""What every network of the engine shares: the `ProbedNet` interface the
engine and the probe rely on, and the norm layer factory.

Its own module so that the arch modules (mlp, resmlp, cnn, rnn, transformer)
and the registry that builds them (models.py) all import it, and no arch
module has to import the registry back.
"""

from __future__ import annotations

from typing import Any

import torch
from gradatlas.service.contracts.spec import InitSpec
from gradatlas.worker.engine.layers import ProbedLayer
from torch import nn


def make_norm(norm: str, width: int) -> nn.Module:
    if norm == "batchnorm":
        return nn.BatchNorm1d(width, dtype=torch.float64)
    if norm == "layernorm":
        return nn.LayerNorm(width, dtype=torch.float64)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}")


class ProbedNet(nn.Module):
    """What every arch provides to the engine: its probed weight layers and
    which of them get which initialisation."""

    def probe_layers(self) -> list[ProbedLayer]:
        raise NotImplementedError

    def init_groups(self, init: InitSpec) -> list[tuple[list[nn.Module], InitSpec, int]]:
        """(layers, their init, gate chunks): every weight layer gets the spec's init."""
        return [([p.linear for p in self.probe_layers()], init, 1)]

    def layer_table(self) -> list[dict[str, Any]]:
        """docs/api.md's `layers`: index, name, kind, weight shape ([out, in], or [out, in, k, k])."""
        return [
            {"index": i, "name": p.name, "kind": p.kind, "shape": list(p.linear.weight.shape)}
            for i, p in enumerate(self.probe_layers())
        ]
