"""The one comparison rule of the API, the CLI and the /compare page: only
spec fields that differ and that the compared runs read; labels never."""

from __future__ import annotations

from typing import Any

from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.reports.differences import as_json, flatten, read_fields, spec_differences


def spec(**model: Any) -> dict[str, Any]:
    """A normalised spec (every default filled in), as the store keeps it."""
    extra = model.pop("extra", {})
    body = {"model": {"arch": "mlp", "depth": 4, "width": 8, "activation": "tanh", **model}, **extra}
    return ExperimentSpec.model_validate(body).model_dump(mode="json")


def test_labels_are_never_differences():
    a = spec(extra={"name": "a", "notes": "first", "tags": ["x"]})
    b = spec(extra={"name": "b", "notes": "second", "tags": ["y", "z"]})
    assert spec_differences([a, b]) == {}


def test_fields_the_arch_does_not_read_are_left_out():
    a, b = spec(cell="lstm", heads=2, norm_position="post"), spec(cell="gru", heads=8, norm_position="pre")
    assert spec_differences([a, b]) == {}  # an MLP has no cell, no heads, no norm to position
    with_norm = [spec(arch="resmlp", norm="layernorm", norm_position=p) for p in ("pre", "post")]
    assert spec_differences(with_norm) == {"model.norm_position": ["pre", "post"]}
    rnns = [spec(arch="rnn", cell=c, extra={"data": {"name": "sequence"}}) for c in ("lstm", "gru")]
    assert spec_differences(rnns) == {"model.cell": ["lstm", "gru"]}


def test_weight_var_counts_only_for_schemes_that_draw_with_it():
    kaiming = [spec(init={"scheme": "kaiming_normal", "weight_var": v}) for v in (1.0, 2.0)]
    assert spec_differences(kaiming) == {}
    normal = [spec(init={"scheme": "normal", "weight_var": v}) for v in (1.0, 2.0)]
    assert spec_differences(normal) == {"model.init.weight_var": [1.0, 2.0]}
    gains = [spec(init={"scheme": "orthogonal", "gain": g}) for g in (None, 2.0)]
    assert spec_differences(gains) == {"model.init.gain": [None, 2.0]}


def test_a_field_differs_only_among_the_runs_that_read_it():
    mlp, lstm = spec(), spec(arch="rnn", cell="lstm", extra={"data": {"name": "sequence"}})
    assert spec_differences([mlp, lstm]) == {"model.arch": ["mlp", "rnn"], "data.name": ["gaussian", "sequence"]}
    gru = spec(arch="rnn", cell="gru", extra={"data": {"name": "sequence"}})
    differences = spec_differences([mlp, lstm, gru])
    assert differences["model.cell"] == [None, "lstm", "gru"]  # null: the MLP does not read it
    mixed = [spec(init={"scheme": "normal", "weight_var": 2.0}), spec(init={"scheme": "kaiming_normal"})]
    assert spec_differences(mixed) == {"model.init.scheme": ["normal", "kaiming_normal"]}


def test_optimizer_and_data_fields_follow_what_the_engine_reads():
    adams = [spec(extra={"training": {"optimizer": "adam", "momentum": m}}) for m in (0.0, 0.5)]
    assert spec_differences(adams) == {}
    sgds = [spec(extra={"training": {"optimizer": "sgd", "momentum": m}}) for m in (0.0, 0.5)]
    assert spec_differences(sgds) == {"training.momentum": [0.0, 0.5]}
    assert "data.input_std" not in read_fields(spec(extra={"data": {"name": "iris"}}))
    assert "model.init.bias_var" not in read_fields(spec(bias=False, init={"scheme": "normal"}))
    assert "model.init.bias_var" in read_fields(spec(init={"scheme": "normal"}))


def test_flatten_and_values_as_json():
    assert flatten({"model": {"depth": 2, "init": {}}, "tags": ["a"]}) == {"model.depth": 2, "model.init": {}, "tags": ["a"]}
    assert [as_json(v) for v in (True, None, ["example"], "tanh", 0.5)] == ["true", "null", '["example"]', "tanh", "0.5"]
