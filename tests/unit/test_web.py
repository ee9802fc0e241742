"""The web pages in process: sign-in and its cookie, CSRF, what each page
shows, the submit form's errors next to their fields, and rerunning a remedy.
The browser behaviour (live status, charts) is in tests/e2e/test_web.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from gradatlas.service.api import create_app
from gradatlas.service.contracts.spec import ExperimentSpec

from tests.profiles import finished_experiment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def app(settings, store):  # type: ignore[no-untyped-def]
    published: list[str] = []
    app = create_app(settings, store=store, enqueue=lambda experiment_id, _queue: published.append(experiment_id))
    app.config["published"] = published
    return app


@pytest.fixture
def browser(app):  # type: ignore[no-untyped-def]
    """A signed-in test client."""
    _, token = app.extensions["gradatlas"].tokens.create("alice")
    client = app.test_client()
    response = client.post("/login", data={"token": token, "csrf_token": _csrf(client.get("/login").text)})
    assert response.status_code == 302
    return client


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_sign_in_sets_an_httponly_samesite_cookie_and_rejects_bad_tokens(app):
    client = app.test_client()
    assert client.get("/experiments").headers["Location"].startswith("/login")
    page = client.get("/login")
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    bad = client.post("/login", data={"token": "ga_wrong", "csrf_token": _csrf(page.text)})
    assert bad.status_code == 200 and "not valid" in bad.text
    _, token = app.extensions["gradatlas"].tokens.create("bob")
    assert client.post("/login", data={"token": token}).status_code == 400  # no CSRF token
    assert client.post("/login", data={"token": token, "csrf_token": _csrf(page.text)}).status_code == 302
    assert "signed in as <b>bob</b>" in client.get("/experiments").text


def test_history_table_and_read_only_data_window(browser, store):
    experiment = finished_experiment(store, name="table-row")
    html = browser.get("/experiments").text
    assert "table-row" in html and "verdict-vanishing" in html and "mlp 12×8 sigmoid" in html
    assert browser.get(f"/ui/api/experiments/{experiment.id}").get_json()["id"] == experiment.id
    assert browser.get(f"/ui/api/experiments/{experiment.id}/plot.png").mimetype == "image/png"
    assert browser.post(f"/ui/api/experiments/{experiment.id}/cancel").status_code == 405


def test_experiment_page_explains_the_verdict_and_offers_remedies(browser, store):
    experiment = finished_experiment(store, depth=30)
    html = browser.get(f"/experiments/{experiment.id}").text
    assert "hidden layer 1 is" in html and "each sigmoid layer multiplies it by about 0.37" in html
    assert "theory predicts 0.35" in html and "Rerun with this" in html and "plotly-cartesian.min.js" in html
    fragment = browser.get(f"/experiments/{experiment.id}/summary").text
    assert "Verdict" in fragment and "<html" not in fragment


def test_rerun_applies_the_remedy_patch_and_opens_the_comparison(browser, store, app):
    experiment = finished_experiment(store)
    page = browser.get(f"/experiments/{experiment.id}").text
    assert browser.post(f"/experiments/{experiment.id}/rerun", data={"remedy": "0"}).status_code == 400  # CSRF
    response = browser.post(f"/experiments/{experiment.id}/rerun", data={"remedy": "0", "csrf_token": _csrf(page)})
    assert response.status_code == 302 and response.headers["Location"].startswith("/compare?ids=")
    new_id = app.config["published"][-1]
    rerun = store.get_experiment(new_id)
    assert rerun.spec["model"]["init"]["weight_var"] == 103.05 and rerun.spec["model"]["depth"] == 12
    compare = browser.get(response.headers["Location"]).text
    assert 'class="differs"><th>model.init.weight_var' in compare


def test_submit_form_builds_the_spec_and_shows_errors_next_to_fields(browser, store, app):
    form = browser.get("/submit?example=deep-sigmoid").text
    assert 'value="deep-sigmoid"' in form and 'name="model.depth" value="20"' in form
    data = {"csrf_token": _csrf(form), "name": "from-form", "model.arch": "mlp", "model.depth": "0", "model.width": "abc",
            "model.activation": "tanh", "extra": "{}"}
    bad = browser.post("/submit", data=data)
    assert bad.status_code == 422 and "expected an integer" in bad.text
    data["model.width"] = "16"
    bad = browser.post("/submit", data=data)
    field = re.search(r'data-path="model.depth">(.*?)</div>', bad.text, re.S).group(1)
    assert bad.status_code == 422 and "greater than or equal to 1" in field
    data["model.depth"], data["extra"] = "3", json.dumps({"training": {"steps": 7}})
    created = browser.post("/submit", data=data)
    assert created.status_code == 302
    experiment = store.get_experiment(app.config["published"][-1])
    assert experiment.name == "from-form" and experiment.spec["training"]["steps"] == 7 and experiment.spec["model"]["width"] == 16


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_is_a_valid_spec_with_a_readme_line(path):
    spec = ExperimentSpec.model_validate(json.loads(path.read_text()))
    assert spec.name == path.stem and spec.notes
    assert f"`{path.name}`" in (EXAMPLES / "README.md").read_text()


def test_compare_page_lists_only_read_differences_as_json(browser, store):
    def create(name: str, **model: object) -> str:
        body = {"name": name, "tags": [name], "notes": name, "probe": {"metrics": ["grad_norm"] if model.pop("few", False) else None},
                "model": {"arch": "mlp", "depth": 4, "width": 8, "activation": "tanh", **model}}
        return store.create_experiment(ExperimentSpec.model_validate(body), owner="alice", queue="cpu").id

    first = create("first", bias=True, cell="lstm", init={"scheme": "kaiming_normal", "weight_var": 1.0})
    second = create("second", bias=False, cell="gru", few=True, init={"scheme": "kaiming_normal", "weight_var": 9.0})
    html = browser.get(f"/compare?ids={first},{second}").text
    rows = dict(re.findall(r'<tr class="differs"><th>([^<]+)</th>(.*?)</tr>', html))
    assert sorted(rows) == ["model.bias", "probe.metrics"]  # no name/notes/tags, no cell (mlp), no weight_var (kaiming)
    assert re.findall(r"<td>([^<]*)</td>", rows["model.bias"]) == ["true", "false"]
    assert re.findall(r"<td>([^<]*)</td>", rows["probe.metrics"]) == ["null", "[&#34;grad_norm&#34;]"]
    assert "True" not in html and "None" not in html
