"""The figure endpoints: real PNG and SVG of the right size, with the axes,
log scale and theory line a reader needs, and JSON errors otherwise."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET

import pytest
from gradatlas.service.api import create_app
from gradatlas.service.reports import plots

from tests.profiles import finished_experiment


@pytest.fixture
def client(settings, store):  # type: ignore[no-untyped-def]
    app = create_app(settings, store=store, enqueue=lambda _id, _queue: None)
    _, plaintext = app.extensions["gradatlas"].tokens.create("alice")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {plaintext}"
    return client


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("kind", ["lines", "heatmap"])
def test_png_is_a_real_image_of_the_documented_size(client, store, kind):
    experiment = finished_experiment(store)
    response = client.get(f"/api/v1/experiments/{experiment.id}/plot.png?metric=signal_norm&kind={kind}")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert _png_size(response.data) == (int(plots.SIZE_IN[0] * plots.DPI), int(plots.SIZE_IN[1] * plots.DPI))


def test_svg_has_title_axis_labels_log_scale_and_the_theory_line(client, store):
    experiment = finished_experiment(store, name="deep-sigmoid-figure")
    response = client.get(f"/api/v1/experiments/{experiment.id}/plot.svg?metric=signal_norm")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    root = ET.fromstring(response.data)
    assert root.tag.endswith("svg") and root.get("width") == "576pt" and root.get("height") == "360pt"
    text = response.data.decode()
    # matplotlib writes text as glyph paths; the label strings survive as ids and comments.
    for expected in ("deep-sigmoid-figure", "layer index", "log scale", "mean-field theory", "training step"):
        assert expected in text, expected
    assert _decade_ticks(text) == list(range(-5, 1))  # signal 0.37¹² ≈ 7e-6 … 1.2: decades 1e-5 … 1


def _decade_ticks(svg: str) -> list[int]:
    """Exponents of the 10^k tick labels, which matplotlib writes only on a
    log axis (as `$\\mathdefault{10^{k}}$` comments beside their glyphs)."""
    return [int(k.replace("−", "-")) for k in re.findall(r"\\mathdefault\{10\^\{([−-]?\d+)\}\}", svg)]


def test_theory_line_multiplies_by_the_gain_from_the_last_hidden_layer(store):
    profile = store.get_profile(finished_experiment(store, depth=6).id)
    line = plots.theory_line(profile, "signal_norm")
    assert line is not None and len(line) == 6
    assert line[-1] == pytest.approx(profile.metrics["signal_norm"][0][5])
    assert line[0] / line[1] == pytest.approx(0.35)
    assert plots.theory_line(profile, "dead_fraction") is None


def test_pdf_is_a_real_deterministic_pdf_page_of_the_documented_size(client, store):
    experiment = finished_experiment(store)
    response = client.get(f"/api/v1/experiments/{experiment.id}/plot.pdf?metric=signal_norm")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-") and response.data.rstrip().endswith(b"%%EOF")
    assert b"/MediaBox [ 0 0 576 360 ]" in response.data  # 8 x 5 inches in points
    assert client.get(f"/api/v1/experiments/{experiment.id}/plot.pdf?metric=signal_norm").data == response.data


def test_errors_are_json(client, store):
    experiment = finished_experiment(store)
    assert client.get(f"/api/v1/experiments/{experiment.id}/plot.png?metric=nope").status_code == 422
    assert client.get(f"/api/v1/experiments/{experiment.id}/plot.png?kind=pie").status_code == 422
    assert client.get(f"/api/v1/experiments/{experiment.id}/plot.gif").status_code == 404
    missing = client.get("/api/v1/experiments/nope/plot.svg")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"]
    assert client.get(f"/api/v1/experiments/{experiment.id}/plot.png", headers={"Authorization": ""}).status_code == 401


def test_the_openapi_document_describes_both_figures(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "image/png" in paths["/api/v1/experiments/{experiment_id}/plot.png"]["get"]["responses"]["200"]["content"]
    assert "image/svg+xml" in paths["/api/v1/experiments/{experiment_id}/plot.svg"]["get"]["responses"]["200"]["content"]
    assert "application/pdf" in paths["/api/v1/experiments/{experiment_id}/plot.pdf"]["get"]["responses"]["200"]["content"]
