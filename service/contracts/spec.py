"""The experiment spec of docs/api.md as pydantic models.

The same models validate requests, fill in defaults (the stored spec is always
the normalised one) and generate the OpenAPI schema, so the contract cannot
drift from the validation. Only pydantic is imported here: the worker's engine
reads these models too, and an API node must not need PyTorch.
"""

from __future__ import annotations

import copy
from typing import Any, Literal, get_args

from gradatlas.service.contracts.text import TAGS_AT_MOST, FreeText, Line, Tag
from pydantic import BaseModel, ConfigDict, Field, model_validator

Arch = Literal["mlp", "resmlp", "cnn", "rnn", "transformer"]
Activation = Literal[
    "identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu",
    "gelu", "silu", "softplus", "hardtanh",
]
Norm = Literal["none", "batchnorm", "layernorm"]
InitScheme = Literal[
    "default", "normal", "uniform", "glorot_standard", "xavier_normal",
    "xavier_uniform", "kaiming_normal", "kaiming_uniform", "orthogonal",
    "lecun_normal",
]
DataName = Literal[
    "gaussian", "teacher", "spirals", "digits", "iris", "wine",
    "breast_cancer", "sequence", "tokens",
]
Optimizer = Literal["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"]
Loss = Literal["cross_entropy", "mse"]
Metric = Literal[
    "grad_norm", "bias_grad_norm", "signal_norm", "weight_norm", "update_ratio",
    "act_mean", "act_std", "per_sample_grad_norm", "dead_fraction",
    "saturated_fraction", "time_signal_norm",
]

# Every arch the spec accepts is one the engine builds (worker/engine/models.py).
ARCHS: tuple[str, ...] = get_args(Arch)
ALL_METRICS: tuple[str, ...] = get_args(Metric)
# Which data each arch reads: flat vectors for the MLPs, images (digits, or
# Gaussian images of side √input_dim) for the CNN, sequences for the rest.
FLAT_DATA = frozenset({"gaussian", "teacher", "spirals", "digits", "iris", "wine", "breast_cancer"})
ARCH_DATA: dict[str, frozenset[str]] = {
    "mlp": FLAT_DATA, "resmlp": FLAT_DATA, "cnn": frozenset({"digits", "gaussian"}),
    "rnn": frozenset({"sequence", "tokens"}), "transformer": frozenset({"sequence", "tokens"}),
}

# Data sets with a fixed shape: (input_dim, classes).
FIXED_DATA_SHAPES: dict[str, tuple[int, int]] = {
    "digits": (64, 10), "iris": (4, 3), "wine": (13, 3), "breast_cancer": (30, 2),
    "spirals": (2, 2),
}


NAME_MAX_LENGTH = 200  # an experiment's or a sweep's name (the tables' name columns are this wide)


class _Strict(BaseModel):
    """Unknown fields are rejected with their path (docs/api.md)."""

    model_config = ConfigDict(extra="forbid")


class RecurrentInitSpec(_Strict):
    scheme: InitScheme = "orthogonal"
    gain: float = Field(1.0, gt=0, le=1e3)
    weight_var: float = Field(1.0, gt=0, le=1e4)


class InitSpec(_Strict):
    scheme: InitScheme = "default"
    weight_var: float = Field(1.0, gt=0, le=1e4, description="σ_w²: W ~ N(0, weight_var / fan_in) for `normal`/`uniform`")
    bias_var: float = Field(0.0, ge=0, le=1e4, description="σ_b²: b ~ N(bias_mean, bias_var)")
    bias_mean: float = Field(0.0, ge=-1e3, le=1e3)
    gain: float | None = Field(None, gt=0, le=1e3, description="gain for xavier/kaiming/orthogonal schemes "
                                                               "(default 1, or the activation's recommended gain for kaiming)")
    recurrent: RecurrentInitSpec | None = Field(None, description="rnn only: the hidden-to-hidden weights' own scheme and gain")


class ModelSpec(_Strict):
    arch: Arch
    depth: int = Field(ge=1, le=1000, description="number of hidden layers (blocks for resmlp/transformer)")
    width: int = Field(ge=1, le=16384, description="units (channels, hidden size, model dimension)")
    activation: Activation
    norm: Norm = "none"
    bias: bool = True
    init: InitSpec = Field(default_factory=InitSpec)
    norm_position: Literal["pre", "post"] = "pre"
    cell: Literal["rnn", "lstm", "gru"] = "rnn"
    heads: int = Field(4, ge=1, le=128)


class DataSpec(_Strict):
    name: DataName = "gaussian"
    input_dim: int | None = Field(None, ge=1, le=65536, description="defaults to 64, or the data set's own dimension")
    classes: int | None = Field(None, ge=2, le=10000, description="defaults to 10, or the data set's own number")
    samples: int = Field(2048, ge=1, le=1_000_000)
    batch_size: int = Field(128, ge=1, le=65536)
    input_std: float = Field(1.0, gt=0, le=1e6)
    seq_len: int = Field(20, ge=1, le=10000)

    @model_validator(mode="after")
    def _fill_shape(self) -> DataSpec:
        fixed = FIXED_DATA_SHAPES.get(self.name)
        if fixed is None:
            self.input_dim = self.input_dim or 64
            self.classes = self.classes or 10
            return self
        for field, value, natural in (("input_dim", self.input_dim, fixed[0]), ("classes", self.classes, fixed[1])):
            if value is not None and value != natural:
                raise ValueError(f"data set {self.name!r} has {field} {natural}, not {value}")
        self.input_dim, self.classes = fixed
        return self


class TrainingSpec(_Strict):
    steps: int = Field(100, ge=0, le=10_000_000, description="0: one forward and backward pass at initialisation, no update")
    optimizer: Optimizer = "sgd"
    lr: float = Field(0.01, ge=0, le=1e3)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0, le=10)
    loss: Loss = "cross_entropy"
    clip_norm: float | None = Field(None, gt=0)
    clip_value: float | None = Field(None, gt=0)


class ProbeSpec(_Strict):
    every: int = Field(10, ge=1, le=1_000_000, description="record every N steps (and always at step 0 and the last step)")
    metrics: list[Metric] | None = Field(None, description="metrics to record; all by default")

    @model_validator(mode="before")
    @classmethod
    def _drop_unset_histogram_bins(cls, data: Any) -> Any:
        """`histogram_bins` was accepted once and never recorded: every stored spec
        carries it as null. A null is dropped so those specs still read back; a
        value asks for histograms GradAtlas does not record, so it stays an error."""
        if isinstance(data, dict) and "histogram_bins" in data and data["histogram_bins"] is None:
            return {key: value for key, value in data.items() if key != "histogram_bins"}
        return data


class ExperimentSpec(_Strict):
    name: Line = Field("", max_length=NAME_MAX_LENGTH)
    tags: list[Tag] = Field(default_factory=list, max_length=TAGS_AT_MOST)
    notes: FreeText = Field("", max_length=10000)
    model: ModelSpec
    data: DataSpec = Field(default_factory=DataSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    probe: ProbeSpec = Field(default_factory=ProbeSpec)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    dtype: Literal["float32", "float64", "bfloat16"] = "float32"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    time_limit_s: float | None = Field(None, gt=0, le=86400, description="wall-clock limit; the server's default when null")

    @model_validator(mode="after")
    def _check_tags(self) -> ExperimentSpec:
        for tag in self.tags:
            if not tag or len(tag) > 64:
                raise ValueError("each tag must be 1 to 64 characters")
        return self

    def recorded_metrics(self) -> tuple[str, ...]:
        return tuple(self.probe.metrics) if self.probe.metrics else ALL_METRICS


def parameter_count(spec: ExperimentSpec) -> int:
    """Weights and biases of the spec's network, read-out included (norm
    layers' few affine parameters are left out)."""
    m, d = spec.model, spec.data
    assert d.input_dim is not None and d.classes is not None
    b, w, n_in = (1 if m.bias else 0), m.width, d.input_dim
    readout = (w + b) * d.classes
    if m.arch == "mlp":
        return (n_in + b) * w + (m.depth - 1) * (w + b) * w + readout
    if m.arch == "resmlp":  # input projection, then two linears per block
        return (n_in + b) * w + m.depth * 2 * (w + b) * w + readout
    if m.arch == "cnn":  # 3×3 kernels; digits and Gaussian images have one channel
        return (9 + b) * w + (m.depth - 1) * (9 * w + b) * w + readout
    if m.arch == "rnn":
        gates = {"rnn": 1, "lstm": 4, "gru": 3}[m.cell]
        return (n_in + b) * gates * w + (m.depth - 1) * (w + b) * gates * w + m.depth * w * gates * w + readout
    # transformer: embedding, then q, k, v, o and a 4× MLP per block (see worker/engine/transformer.py)
    return (n_in + b) * w + m.depth * (4 * (w + b) * w + (w + b) * 4 * w + (4 * w + b) * w) + readout


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 (how remedies and reruns change a spec): objects merge
    recursively, null deletes a member, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def partial_spec_schema() -> dict[str, Any]:
    """ExperimentSpec's JSON Schema with nothing required: a sweep's base may
    leave out what its grid, random axes or seeds fill in (each point is then
    checked whole). Inlined, so that it names no model of its own."""
    schema = ExperimentSpec.model_json_schema()
    definitions = schema.pop("$defs", {})

    def partial(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return partial(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {key: partial(value) for key, value in node.items() if key != "required"}
        if isinstance(node, list):
            return [partial(value) for value in node]
        return node

    return partial(schema)  # type: ignore[no-any-return]
