"""arch `resmlp`: residual blocks of two linear layers around a skip path.

    pre-norm:  x ← x + W₂ φ(W₁ norm(x))        (the residual path is never normalised)
    post-norm: x ← norm(x + W₂ φ(W₁ x))        (the original ResNet/Transformer order)

An input projection brings the data to `width` first. With pre-norm the
identity path carries the gradient from the read-out to every block
unchanged, which is why a deep sigmoid `resmlp` with `layernorm` trains
where the plain `mlp` of the same depth cannot (a remedy GradAtlas offers).
"""

from __future__ import annotations

import torch
from gradatlas.worker.engine.activations import activation_info
from gradatlas.worker.engine.layers import ProbedLayer
from gradatlas.worker.engine.nets import ProbedNet, make_norm
from torch import Tensor, nn


class ResBlock(nn.Module):
    def __init__(self, width: int, activation: str, norm: str, position: str, bias: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width, bias=bias, dtype=torch.float64)
        self.act = activation_info(activation).make()
        self.fc2 = nn.Linear(width, width, bias=bias, dtype=torch.float64)
        self.norm = make_norm(norm, width)
        self.pre = position == "pre"

    def forward(self, x: Tensor) -> Tensor:  # (B, width) -> (B, width)
        if self.pre:
            return x + self.fc2(self.act(self.fc1(self.norm(x))))
        return self.norm(x + self.fc2(self.act(self.fc1(x))))


class ResMLP(ProbedNet):
    """Input projection, `depth` residual blocks, linear read-out."""

    def __init__(self, input_dim: int, width: int, depth: int, classes: int, activation: str,
                 norm: str, position: str, bias: bool) -> None:
        super().__init__()
        self.activation = activation
        self.embed = nn.Linear(input_dim, width, bias=bias, dtype=torch.float64)
        self.blocks = nn.ModuleList(ResBlock(width, activation, norm, position, bias) for _ in range(depth))
        self.readout = nn.Linear(width, classes, bias=bias, dtype=torch.float64)

    def forward(self, x: Tensor) -> Tensor:  # (B, input_dim) -> (B, classes)
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.readout(x)

    def probe_layers(self) -> list[ProbedLayer]:
        info = activation_info(self.activation)
        layers = [ProbedLayer("embed", self.embed)]
        for i, block in enumerate(self.blocks):
            assert isinstance(block, ResBlock)
            layers.append(ProbedLayer(f"block.{i}.fc1", block.fc1, block.act, info.derivative, info.max_derivative))
            layers.append(ProbedLayer(f"block.{i}.fc2", block.fc2))
        return layers + [ProbedLayer("readout", self.readout)]
