"""Draws the README's screenshots from real runs, never by hand:
docs/experiment.png, docs/compare.png and docs/sweep-phase-diagram.png.

It starts `gradatlas up` on a temporary home and a free port, submits every
spec of examples/*.json and the sweep of examples/sweep-depth-variance.yaml,
waits until the worker has run them all, signs in with headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright as tests/e2e/test_web.py
does) and photographs the deep-sigmoid experiment page, He against Xavier
at 30 ReLU layers on the compare page, and the sweep's phase diagram.

    .venv/bin/python scripts/screenshots.py            # a few minutes on 2 cores
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from gradatlas import Client

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
CHROMIUM = "/usr/bin/chromium"
GRADATLAS = Path(sys.executable).parent / "gradatlas"
EXPERIMENT = "deep-sigmoid"
COMPARED = ("relu30-he", "relu30-xavier")
RUN_TIMEOUT_S = 900


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="gradatlas-screenshots-") as tmp, running_service(Path(tmp)) as client:
        ids = submit_examples(client)
        sweep = client.sweep(yaml.safe_load((EXAMPLES / "sweep-depth-variance.yaml").read_text()))
        for name, experiment_id in ids.items():
            done = client.wait(experiment_id, timeout=RUN_TIMEOUT_S)
            print(f"{name}: {done.status} {(done.summary or {}).get('verdict', done.error or '')}")
        finished = client.wait_sweep(sweep.id, timeout=RUN_TIMEOUT_S)
        print(f"sweep {finished.id}: {finished.counts}")
        photograph(client, [
            (f"/experiments/{ids[EXPERIMENT]}", "experiment.png", True),
            (f"/compare?ids={ids[COMPARED[0]]},{ids[COMPARED[1]]}", "compare.png", False),
            (f"/sweeps/{finished.id}", "sweep-phase-diagram.png", False),
        ])


def submit_examples(client: Client) -> dict[str, str]:
    """Every example spec, by its file name: a spec the service rejects stops the script."""
    return {path.stem: client.submit(json.loads(path.read_text())).id for path in sorted(EXAMPLES.glob("*.json"))}


@contextmanager
def running_service(tmp: Path) -> Iterator[Client]:
    """`gradatlas up` on the embedded defaults under `tmp`, stopped afterwards."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GRADATLAS_")}
    home, port = tmp / "home", free_port()
    env["GRADATLAS_HOME"] = str(home)
    log = open(tmp / "up.log", "wb")
    process = subprocess.Popen([str(GRADATLAS), "up", "--port", str(port)], cwd=tmp, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, tmp / "up.log")
        yield Client(url, (home / "token").read_text().strip())
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        log.close()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gradatlas up stopped:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url + "/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # refused while it starts
            pass
        time.sleep(0.5)
    raise SystemExit(f"gradatlas up did not answer in {timeout:g} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def photograph(client: Client, shots: list[tuple[str, str, bool]]) -> None:
    """Each page once its charts are drawn; full_page for the long experiment
    page, the first screen (chart and the table's head) for the others."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = signed_in(browser, client)
        for path, name, full_page in shots:
            page.goto(client.url + path)
            page.wait_for_selector("body[data-charts-ready='1']")
            page.wait_for_timeout(500)  # let Plotly finish its transitions
            page.screenshot(path=str(DOCS / name), full_page=full_page)
            print(f"wrote docs/{name}")
        browser.close()


def signed_in(browser: Any, client: Client) -> Any:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    page.goto(client.url + "/login")
    page.fill("#token", client.token)
    page.click("button[type=submit]")
    page.wait_for_url("**/experiments")
    return page


if __name__ == "__main__":
    main()
