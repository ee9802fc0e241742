"""arch `mlp`: the plain network the mean-field theory speaks of.

A hidden layer is Linear → norm → activation, the read-out a plain Linear.
z_l, the Linear's output, is the pre-activation whose gradient ∂L/∂z_l is
the back-propagated signal of docs/science.md; the activation module is kept as a
module of its own so the probe can hook the tensor φ is applied to.
"""

from __future__ import annotations

import torch
from gradatlas.worker.engine.activations import activation_info
from gradatlas.worker.engine.layers import ProbedLayer
from gradatlas.worker.engine.nets import ProbedNet, make_norm
from torch import Tensor, nn


class Block(nn.Module):
    """One hidden layer: z = W x + b, h = φ(norm(z))."""

    def __init__(self, d_in: int, d_out: int, activation: str, norm: str, bias: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=bias, dtype=torch.float64)
        self.norm = make_norm(norm, d_out)
        self.act = activation_info(activation).make()

    def forward(self, x: Tensor) -> Tensor:  # (B, d_in) -> (B, d_out)
        return self.act(self.norm(self.linear(x)))


class MLP(ProbedNet):
    """`depth` hidden layers of `width` units, then a linear read-out.

    Built in float64 on the CPU (so every dtype and device starts from the
    same draws); move it with `.to(device, dtype)`.
    """

    def __init__(
        self, input_dim: int, width: int, depth: int, classes: int,
        activation: str, norm: str = "none", bias: bool = True,
    ) -> None:
        super().__init__()
        self.activation = activation
        dims = [input_dim] + [width] * depth
        self.hidden = nn.ModuleList(
            Block(d_in, d_out, activation, norm, bias) for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)
        )
        self.readout = nn.Linear(width, classes, bias=bias, dtype=torch.float64)

    def forward(self, x: Tensor) -> Tensor:  # (B, input_dim) -> (B, classes)
        for block in self.hidden:
            x = block(x)
        return self.readout(x)

    def blocks(self) -> list[Block]:
        return [block for block in self.hidden if isinstance(block, Block)]

    def linears(self) -> list[nn.Linear]:
        """The weight layers, input side first, read-out last."""
        return [block.linear for block in self.blocks()] + [self.readout]

    def probe_layers(self) -> list[ProbedLayer]:
        info = activation_info(self.activation)
        hidden = [
            ProbedLayer(f"hidden.{i}", b.linear, b.act, info.derivative, info.max_derivative)
            for i, b in enumerate(self.blocks())
        ]
        return hidden + [ProbedLayer("readout", self.readout)]
