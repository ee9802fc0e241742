"""arch `transformer`: an embedding, `depth` encoder blocks, a mean-pooled
linear read-out.

    pre-norm:  x ← x + Attn(norm₁(x));   x ← x + MLP(norm₂(x))
    post-norm: x ← norm₁(x + Attn(x));   x ← norm₂(x + MLP(x))

Attention has `heads` heads over q, k, v, o projections of width×width; the
MLP is width → 4·width → width with the spec's activation. Every projection
is a probed layer named by its block (`block.3.attn.v`, `block.3.mlp.fc1`),
input side first. The embedding is a linear layer too (tokens enter as
scaled one-hot vectors, see rnn.sequence_input), so the profile starts with
a layer on the main path, and fixed sinusoidal positions are added to it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from gradatlas.worker.engine.activations import activation_info
from gradatlas.worker.engine.layers import ProbedLayer
from gradatlas.worker.engine.nets import ProbedNet
from gradatlas.worker.engine.rnn import sequence_input
from torch import Tensor, nn


class SequenceBatchNorm(nn.BatchNorm1d):
    """BatchNorm over (batch, position) for features last: (B, T, C)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


def _seq_norm(norm: str, width: int) -> nn.Module:
    if norm == "batchnorm":
        return SequenceBatchNorm(width, dtype=torch.float64)
    if norm == "layernorm":
        return nn.LayerNorm(width, dtype=torch.float64)
    return nn.Identity()


def sinusoids(length: int, width: int) -> Tensor:
    """(length, width) fixed positional encoding of Vaswani et al. 2017."""
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float64) / width)
    table = torch.zeros(length, width, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : width // 2]
    return table


class EncoderBlock(nn.Module):
    PROJECTIONS = ("q", "k", "v", "o")

    def __init__(self, width: int, heads: int, activation: str, norm: str, position: str, bias: bool) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads, self.pre = heads, position == "pre"
        self.q, self.k, self.v, self.o = (nn.Linear(width, width, bias=bias, dtype=torch.float64) for _ in self.PROJECTIONS)
        self.fc1 = nn.Linear(width, 4 * width, bias=bias, dtype=torch.float64)
        self.act = activation_info(activation).make()
        self.fc2 = nn.Linear(4 * width, width, bias=bias, dtype=torch.float64)
        self.norm1, self.norm2 = _seq_norm(norm, width), _seq_norm(norm, width)

    def attention(self, x: Tensor) -> Tensor:  # (B, T, W) -> (B, T, W)
        b, t, w = x.shape

        def split(z: Tensor) -> Tensor:  # (B, T, W) -> (B, heads, T, W/heads)
            return z.reshape(b, t, self.heads, w // self.heads).transpose(1, 2)

        y = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
        return self.o(y.transpose(1, 2).reshape(b, t, w))

    def mlp(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))

    def forward(self, x: Tensor) -> Tensor:
        if self.pre:
            x = x + self.attention(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.mlp(x))


class Transformer(ProbedNet):
    def __init__(self, input_dim: int, width: int, depth: int, classes: int, activation: str, norm: str,
                 position: str, heads: int, bias: bool, seq_len: int, tokens: bool) -> None:
        super().__init__()
        self.activation, self.vocab = activation, input_dim
        self.embed = nn.Linear(input_dim, width, bias=bias, dtype=torch.float64)
        self.register_buffer("positions", sinusoids(seq_len, width))
        self.blocks = nn.ModuleList(EncoderBlock(width, heads, activation, norm, position, bias) for _ in range(depth))
        self.final_norm = _seq_norm(norm, width) if position == "pre" else nn.Identity()
        self.readout = nn.Linear(width, classes, bias=bias, dtype=torch.float64)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, input_dim) floats or (B, T) tokens -> (B, classes)
        h = self.embed(sequence_input(x, self.vocab, self.readout.weight.dtype))
        h = h + self.positions[: h.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.readout(self.final_norm(h).mean(dim=1))

    def probe_layers(self) -> list[ProbedLayer]:
        info = activation_info(self.activation)
        layers = [ProbedLayer("embed", self.embed)]
        for i, block in enumerate(self.blocks):
            assert isinstance(block, EncoderBlock)
            layers += [ProbedLayer(f"block.{i}.attn.{name}", getattr(block, name)) for name in block.PROJECTIONS]
            layers.append(ProbedLayer(f"block.{i}.mlp.fc1", block.fc1, block.act, info.derivative, info.max_derivative))
            layers.append(ProbedLayer(f"block.{i}.mlp.fc2", block.fc2))
        return layers + [ProbedLayer("readout", self.readout)]
