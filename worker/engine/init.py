"""Weight initialisation schemes of docs/api.md.

Every layer, the read-out included, gets the same scheme, so a depth sweep
changes only the number of layers. The `normal` scheme is the mean-field
parameterisation the theory speaks of (W ~ N(0, σ_w²/fan_in),
b ~ N(μ_b, σ_b²)); the others are the named recipes users compare against it.
Draws come from the global CPU generator, which the caller seeds (and forks).
"""

from __future__ import annotations

import math

import torch
from gradatlas.service.contracts.spec import InitSpec
from gradatlas.worker.engine.activations import activation_info
from torch import Tensor, nn


@torch.no_grad()
def initialise(linears: list[nn.Module], init: InitSpec, activation: str, chunks: int = 1) -> None:
    """Re-draw weights and biases; `default` keeps PyTorch's own init.

    `chunks` > 1 draws each of that many row blocks of W on its own: the
    gates of an LSTM (4) or GRU (3) cell are separate matrices stacked in
    one, and an orthogonal or Xavier draw must see each gate's shape.
    """
    if init.scheme == "default":
        return
    for linear in linears:
        for block in linear.get_parameter("weight").chunk(chunks, dim=0):  # views: drawn in place
            init_weight(block, init, activation)
        bias = linear.bias  # a Parameter, or None for a layer without one
        if isinstance(bias, Tensor):
            # N(bias_mean, bias_var); bias_var 0 gives the constant bias_mean
            bias.normal_(init.bias_mean, math.sqrt(init.bias_var))


def init_weight(w: Tensor, init: InitSpec, activation: str) -> None:
    """Draw W in place according to `init.scheme`: shape [out, in] for a
    linear layer, [out, in, k, k] for a conv (fan_in = in·k·k)."""
    fan_in = w[0].numel()
    gain = init.gain
    scheme = init.scheme
    if scheme == "normal":
        w.normal_(0.0, math.sqrt(init.weight_var / fan_in))
    elif scheme == "uniform":  # same variance as `normal`: U[−a, a] has variance a²/3
        bound = math.sqrt(3.0 * init.weight_var / fan_in)
        w.uniform_(-bound, bound)
    elif scheme == "glorot_standard":
        w.uniform_(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in))
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(w, gain=gain or 1.0)
    elif scheme == "xavier_uniform":
        nn.init.xavier_uniform_(w, gain=gain or 1.0)
    elif scheme in ("kaiming_normal", "kaiming_uniform"):
        # fan_in mode; std = gain/√fan_in with the activation's gain by default
        std = (gain or activation_info(activation).kaiming_gain) / math.sqrt(fan_in)
        if scheme == "kaiming_normal":
            w.normal_(0.0, std)
        else:
            w.uniform_(-math.sqrt(3.0) * std, math.sqrt(3.0) * std)
    elif scheme == "orthogonal":
        nn.init.orthogonal_(w, gain=gain or 1.0)
    elif scheme == "lecun_normal":  # N(0, 1/fan_in), untruncated (Klambauer et al.)
        w.normal_(0.0, (gain or 1.0) / math.sqrt(fan_in))
    else:
        raise ValueError(f"unknown init scheme {scheme!r}")
