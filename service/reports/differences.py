"""Which spec fields differ between experiments: the one rule behind the API's
`GET /api/v1/compare`, the `gradatlas compare` command and the /compare page.

A field counts only when it can change the gradient: `name`, `notes` and
`tags` never do, and a field the run's network does not read (an LSTM `cell`
on an MLP, `norm_position` without a norm, `weight_var` for a scheme that
draws by its own recipe) is not shown. The stored spec is the normalised one
(every default filled in, see `ExperimentSpec`), so the rules below read the
same field names as the models in `service/contracts/spec.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

LABELS = frozenset({"name", "notes", "tags"})  # describe a run, never change it
NORMED_ARCHS = frozenset({"mlp", "resmlp", "cnn", "transformer"})  # the rnn has no norm layers
POSITIONED_ARCHS = frozenset({"resmlp", "transformer"})  # a residual block puts its norm pre or post
VARIANCE_SCHEMES = frozenset({"normal", "uniform"})  # draw with weight_var / fan_in (worker/engine/init.py)
GAIN_SCHEMES = frozenset({"xavier_normal", "xavier_uniform", "kaiming_normal", "kaiming_uniform", "orthogonal",
                          "lecun_normal"})
SEQUENCE_DATA = frozenset({"sequence", "tokens"})
SCALED_DATA = frozenset({"gaussian", "teacher", "sequence"})  # multiply their draws by input_std
MOMENTUM_OPTIMIZERS = frozenset({"sgd", "momentum", "nesterov", "rmsprop"})  # adam/adamw have betas instead


def flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    """{"model": {"depth": 20}} → {"model.depth": 20} (an empty object stays a leaf)."""
    if not isinstance(document, dict):
        return {prefix: document}
    out: dict[str, Any] = {}
    for key, value in document.items():
        path = f"{prefix}.{key}" if prefix else key
        out.update(flatten(value, path) if isinstance(value, dict) and value else {path: value})
    return out


def _get(flat: dict[str, Any], path: str, default: Any = None) -> Any:
    return flat.get(path, default)


def _scheme_reads(scheme: Any, field: str) -> bool:
    if field == "weight_var":
        return scheme in VARIANCE_SCHEMES
    if field == "gain":
        return scheme in GAIN_SCHEMES
    return True


def _init_reads(flat: dict[str, Any], path: str) -> bool:
    """model.init.*: the scheme decides; biases are drawn only when there are
    biases and the scheme is not PyTorch's own default."""
    field = path.rsplit(".", 1)[-1]
    scheme = _get(flat, "model.init.scheme", "default")
    if path.startswith("model.init.recurrent"):
        return _get(flat, "model.arch") == "rnn" and _scheme_reads(_get(flat, "model.init.recurrent.scheme"), field)
    if field in ("bias_var", "bias_mean"):
        return scheme != "default" and bool(_get(flat, "model.bias", True))
    return _scheme_reads(scheme, field)


# path (or path prefix ending in ".") -> does this (flattened) spec read it?
RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "model.norm": lambda f: _get(f, "model.arch") in NORMED_ARCHS,
    "model.norm_position": lambda f: _get(f, "model.arch") in POSITIONED_ARCHS and _get(f, "model.norm", "none") != "none",
    "model.cell": lambda f: _get(f, "model.arch") == "rnn",
    "model.heads": lambda f: _get(f, "model.arch") == "transformer",
    "data.seq_len": lambda f: _get(f, "data.name") in SEQUENCE_DATA,
    "data.input_std": lambda f: _get(f, "data.name", "gaussian") in SCALED_DATA,
    "training.momentum": lambda f: _get(f, "training.optimizer", "sgd") in MOMENTUM_OPTIMIZERS,
}


def reads(flat: dict[str, Any], path: str) -> bool:
    """Whether the run described by the flattened spec `flat` reads `path`."""
    if path.split(".", 1)[0] in LABELS:
        return False
    if path.startswith("model.init."):
        return _init_reads(flat, path)
    rule = RULES.get(path)
    return rule(flat) if rule else True


def read_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec's flattened fields that its run reads."""
    flat = flatten(spec)
    return {path: value for path, value in flat.items() if reads(flat, path)}


def spec_differences(specs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Dotted path → the value in each spec, for the fields whose values differ
    among the runs that read them; null where a run does not read the field.
    A field only one run reads differs from nothing (an LSTM's `cell` beside
    an MLP: `model.arch` already says they differ)."""
    flats = [flatten(spec) for spec in specs]
    paths = sorted(set().union(*flats)) if flats else []
    differences: dict[str, list[Any]] = {}
    for path in paths:
        values = [flat.get(path) if reads(flat, path) else None for flat in flats]
        read = {json.dumps(flat.get(path), sort_keys=True) for flat in flats if reads(flat, path)}
        if len(read) > 1:
            differences[path] = values
    return differences


def as_json(value: Any) -> str:
    """How the CLI and the pages show a spec value: JSON (true, null, ["a"]),
    a string without quotes."""
    return value if isinstance(value, str) else json.dumps(value)
