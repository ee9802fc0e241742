"""The one-sentence verdicts and the number format people read them in."""

from __future__ import annotations

import pytest
from gradatlas.service.contracts.spec import apply_merge_patch
from gradatlas.service.reports.differences import spec_differences
from gradatlas.service.science.explain import explain, sci

from tests.profiles import vanishing_summary

SPEC = {"model": {"depth": 30, "activation": "sigmoid"}}


@pytest.mark.parametrize(("value", "text"), [(3.1e-9, "3.1×10⁻⁹"), (9.97e-9, "10⁻⁸"), (1e-3, "10⁻³"), (0.37, "0.37"),
                                             (2000.0, "2000"), (2.5e5, "2.5×10⁵"), (0.0, "0"), (None, "—"), (float("nan"), "—"),
                                             ("healthy", "healthy")])
def test_sci(value, text):
    assert sci(value) == text


def test_vanishing_sentence_quotes_the_measured_gain_and_the_theory():
    sentence = explain(vanishing_summary(30, gain=0.37), SPEC)
    assert sentence.startswith("The gradient signal at hidden layer 1 is ")
    assert "of that at hidden layer 30" in sentence and "each sigmoid layer multiplies it by about 0.37" in sentence
    assert "theory predicts 0.35" in sentence and "vanishes" in sentence


def test_other_verdicts():
    exploding = {**vanishing_summary(), "verdict": "exploding", "signal_ratio_init": 2e4, "layer_gain_init": 1.4, "theory_gain": None}
    assert "times that at" in explain(exploding, SPEC) and "explodes" in explain(exploding, SPEC)
    dead = {**vanishing_summary(), "signal_ratio_init": 0.0}
    assert "No gradient reaches the first layer" in explain(dead, SPEC)
    diverged = {"verdict": "diverged", "first_nonfinite": {"step": 7, "layer": 3, "metric": "grad_norm"}}
    assert "step 7, layer 3" in explain(diverged, SPEC)
    assert explain(None, SPEC, "running").startswith("Running")


def test_merge_patch_and_differences():
    spec = {"model": {"depth": 20, "init": {"scheme": "normal", "weight_var": 1.0}}, "name": "a"}
    patched = apply_merge_patch(spec, {"model": {"init": {"weight_var": 103.05, "scheme": None}}})
    assert patched == {"model": {"depth": 20, "init": {"weight_var": 103.05}}, "name": "a"} and spec["model"]["init"]["scheme"] == "normal"
    # the patched spec's scheme is gone (PyTorch's default), which reads no weight_var
    assert spec_differences([spec, {**patched, "name": "b"}]) == {"model.init.scheme": ["normal", None]}
