"""arch `cnn`: `depth` 3×3 convolutions of `width` channels, then a global
average pool and a linear read-out.

The input is a one-channel square image: `digits` are 8×8, Gaussian
images have side √input_dim. Padding 1 keeps the image size, so every
layer sees the same number of positions and the signal of layer l is
comparable with that of layer l+1, as in a plain `mlp`. `layernorm` here is
GroupNorm with one group (normalising each example over channels and
positions), `batchnorm` is BatchNorm2d.
"""

from __future__ import annotations

import math

import torch
from gradatlas.worker.engine.activations import activation_info
from gradatlas.worker.engine.layers import ProbedLayer
from gradatlas.worker.engine.nets import ProbedNet
from torch import Tensor, nn


def _conv_norm(norm: str, width: int) -> nn.Module:
    if norm == "batchnorm":
        return nn.BatchNorm2d(width, dtype=torch.float64)
    if norm == "layernorm":
        return nn.GroupNorm(1, width, dtype=torch.float64)
    return nn.Identity()


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, activation: str, norm: str, bias: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias, dtype=torch.float64)
        self.norm = _conv_norm(norm, c_out)
        self.act = activation_info(activation).make()

    def forward(self, x: Tensor) -> Tensor:  # (B, c_in, S, S) -> (B, c_out, S, S)
        return self.act(self.norm(self.conv(x)))


class CNN(ProbedNet):
    def __init__(self, input_dim: int, width: int, depth: int, classes: int, activation: str, norm: str, bias: bool) -> None:
        super().__init__()
        self.side = math.isqrt(input_dim)
        if self.side * self.side != input_dim:
            raise ValueError(f"a cnn reads square one-channel images: input_dim {input_dim} is not a perfect square")
        self.activation = activation
        channels = [1] + [width] * depth
        self.convs = nn.ModuleList(ConvBlock(a, b, activation, norm, bias) for a, b in zip(channels[:-1], channels[1:], strict=True))
        self.readout = nn.Linear(width, classes, bias=bias, dtype=torch.float64)

    def forward(self, x: Tensor) -> Tensor:  # (B, input_dim) -> (B, classes)
        h = x.reshape(x.shape[0], 1, self.side, self.side)
        for block in self.convs:
            h = block(h)
        return self.readout(h.mean(dim=(2, 3)))  # global average pool: (B, width)

    def probe_layers(self) -> list[ProbedLayer]:
        info = activation_info(self.activation)
        layers = []
        for i, block in enumerate(self.convs):
            assert isinstance(block, ConvBlock)
            layers.append(ProbedLayer(f"conv.{i}", block.conv, block.act, info.derivative, info.max_derivative))
        return layers + [ProbedLayer("readout", self.readout)]
