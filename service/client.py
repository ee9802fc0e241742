"""The Python client: GradAtlas from a notebook or a script in three lines.

    client = Client("http://127.0.0.1:8000", token)
    done = client.wait(client.submit(spec).id, on_progress=print)
    arrays = client.profile(done.id)          # NumPy, one (steps, layers) array per metric

It speaks only the HTTP contract of docs/api.md (no database, no Celery), so it
works against any GradAtlas, and it raises `GradAtlasError` carrying the
API's own error body rather than a bare HTTP status.
"""

from __future__ import annotations

import builtins  # `list` is also a method name of the class below
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests
from gradatlas.service.contracts.resources import TERMINAL, Experiment, Profile

DEFAULT_URL = "http://127.0.0.1:8000"


class GradAtlasError(Exception):
    """An answer other than 2xx. `body` is the API's JSON error
    (`{"error": {"code", "message", "details"}, "request_id"}`) when it sent one."""

    def __init__(self, status: int, body: dict[str, Any] | None, text: str = "") -> None:
        self.status, self.body = status, body or {}
        error = self.body.get("error") or {}
        self.code: str = error.get("code", "http_error")
        self.message: str = error.get("message", text[:200] or f"HTTP {status}")
        self.details: list[dict[str, Any]] = error.get("details") or []
        self.request_id: str = self.body.get("request_id", "")
        super().__init__(f"{status} {self.code}: {self.message}" + "".join(
            f"\n  {'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg', '')}" for d in self.details))


class ExperimentFailed(GradAtlasError):
    """`wait(..., raise_on_failure=True)` found the experiment failed or cancelled."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        body = {"error": {"code": experiment.reason or experiment.status, "message": experiment.error or experiment.status}}
        super().__init__(200, body)


@dataclass
class ProfileArrays:
    """The profile as NumPy: `metrics[name]` is (steps, layers) float64 with
    NaN where the service stored a non-finite value."""

    layers: list[dict[str, Any]]
    steps: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    metrics: dict[str, np.ndarray]
    theory: dict[str, Any] | None = None

    @classmethod
    def from_profile(cls, profile: Profile) -> ProfileArrays:
        def floats(values: Any) -> np.ndarray:
            return np.array(_nan_for_none(values), dtype=np.float64)

        return cls(layers=[layer.model_dump() for layer in profile.layers], steps=np.array(profile.steps, dtype=np.int64),
                   loss=floats(profile.loss), accuracy=floats(profile.accuracy),
                   metrics={name: floats(rows).reshape(len(rows), len(profile.layers)) for name, rows in profile.metrics.items()},
                   theory=profile.theory)


@dataclass
class Sweep:
    """A sweep as `GET /api/v1/sweeps/{id}` gives it; `raw` keeps every field."""

    id: str
    counts: dict[str, int] = field(default_factory=dict)
    table: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Sweep:
        return cls(id=str(body.get("id", "")), counts=dict(body.get("counts") or {}), table=list(body.get("table") or []), raw=body)

    @property
    def done(self) -> bool:
        active = sum(self.counts.get(state, 0) for state in ("queued", "running"))
        return bool(self.counts) and active == 0


def _nan_for_none(values: Any) -> Any:
    if isinstance(values, list):
        return [_nan_for_none(v) for v in values]
    return np.nan if values is None else values


def token_file(home: str | os.PathLike[str] | None = None) -> Path:
    """Where `gradatlas up` writes the first token: $GRADATLAS_HOME/token,
    `.gradatlas/token` below the current folder by default (absolute, so an
    error can say exactly which file was looked at)."""
    return (Path(home or os.environ.get("GRADATLAS_HOME", ".gradatlas")).expanduser() / "token").absolute()


def default_token(home: str | os.PathLike[str] | None = None) -> str | None:
    """GRADATLAS_TOKEN, else the token `gradatlas up` wrote to `token_file()`."""
    if os.environ.get("GRADATLAS_TOKEN"):
        return os.environ["GRADATLAS_TOKEN"].strip()
    path = token_file(home)
    return path.read_text().strip() if path.is_file() else None


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get("GRADATLAS_URL") or DEFAULT_URL).rstrip("/")
        self.token = token or default_token()
        self.timeout = timeout
        self.http = requests.Session()
        if self.token:
            self.http.headers["Authorization"] = f"Bearer {self.token}"

    # --- plumbing -------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.http.request(method, self.url + path, timeout=kwargs.pop("timeout", self.timeout), **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise GradAtlasError(response.status_code, body if isinstance(body, dict) else None, response.text)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    # --- experiments ----------------------------------------------------------

    def submit(self, spec: dict[str, Any]) -> Experiment:
        return Experiment.model_validate(self._json("POST", "/api/v1/experiments", json=spec))

    def get(self, experiment_id: str) -> Experiment:
        return Experiment.model_validate(self._json("GET", f"/api/v1/experiments/{experiment_id}"))

    def cancel(self, experiment_id: str) -> Experiment:
        return Experiment.model_validate(self._json("POST", f"/api/v1/experiments/{experiment_id}/cancel"))

    def wait(self, experiment_id: str, timeout: float | None = None, interval: float = 0.5,
             on_progress: Callable[[Experiment], None] | None = None, raise_on_failure: bool = False) -> Experiment:
        """Poll until the experiment ends; `on_progress` sees every poll.
        Raises TimeoutError after `timeout` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            experiment = self.get(experiment_id)
            if on_progress is not None:
                on_progress(experiment)
            if experiment.status in TERMINAL:
                if raise_on_failure and experiment.status != "succeeded":
                    raise ExperimentFailed(experiment)
                return experiment
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"experiment {experiment_id} still {experiment.status} after {timeout:g} s")
            time.sleep(interval)

    def page(self, filter: str | None = None, order_by: str | None = None, limit: int = 50,
             page_token: str | None = None) -> tuple[list[Experiment], str | None]:
        """One page of experiments and the token of the next (None on the last)."""
        params: dict[str, Any] = {"limit": limit}
        for name, value in (("filter", filter), ("order_by", order_by), ("page_token", page_token)):
            if value:
                params[name] = value
        page = self._json("GET", "/api/v1/experiments", params=params)
        return [Experiment.model_validate(item) for item in page["items"]], page.get("next_page_token") or None

    def list(self, filter: str | None = None, order_by: str | None = None, limit: int = 50,
             max_items: int | None = None) -> Iterator[Experiment]:
        """Every matching experiment, fetching the next page only when needed."""
        seen, token = 0, None
        while True:
            items, token = self.page(filter, order_by, limit, token)
            for item in items:
                if max_items is not None and seen >= max_items:
                    return
                seen += 1
                yield item
            if not token:
                return

    def profile(self, experiment_id: str) -> ProfileArrays:
        return ProfileArrays.from_profile(self.profile_model(experiment_id))

    def profile_model(self, experiment_id: str) -> Profile:
        """The profile as the pydantic model (plain lists, None where not finite)."""
        return Profile.model_validate(self._json("GET", f"/api/v1/experiments/{experiment_id}/profile"))

    def profile_dict(self, experiment_id: str) -> dict[str, Any]:
        """The profile as plain JSON-ready lists and dicts: no NumPy, no pandas."""
        return self.profile_model(experiment_id).model_dump(mode="json")

    def profile_csv(self, experiment_id: str) -> str:
        return self.request("GET", f"/api/v1/experiments/{experiment_id}/profile", params={"format": "csv"}).text

    def plot(self, experiment_id: str, fmt: str = "png", metric: str = "grad_norm", kind: str = "lines") -> bytes:
        return self.request("GET", f"/api/v1/experiments/{experiment_id}/plot.{fmt}",
                            params={"metric": metric, "kind": kind}).content

    # --- history: compare, sweeps, imports ------------------------------------

    def compare(self, ids: Sequence[str]) -> dict[str, Any]:
        return self._json("GET", "/api/v1/compare", params={"ids": ",".join(ids)})  # type: ignore[no-any-return]

    def sweep(self, body: dict[str, Any]) -> Sweep:
        """Submit a sweep (`{"name", "base", "grid", "seeds"}`); returns it as created."""
        return Sweep.from_json(self._json("POST", "/api/v1/sweeps", json=body))

    def get_sweep(self, sweep_id: str) -> Sweep:
        return Sweep.from_json(self._json("GET", f"/api/v1/sweeps/{sweep_id}"))

    def sweep_page(self, limit: int = 50, page_token: str | None = None) -> tuple[builtins.list[Sweep], str | None]:
        """One page of sweeps, newest first and without their tables, and the token of the next (None on the last)."""
        items, token = self._list_page("/api/v1/sweeps", limit, page_token)
        return [Sweep.from_json(item) for item in items], token

    def token_page(self, limit: int = 50, page_token: str | None = None) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """One page of API tokens (admin), oldest first and never their plaintext, and the token of the next page."""
        return self._list_page("/api/v1/tokens", limit, page_token)

    def _list_page(self, path: str, limit: int, page_token: str | None) -> tuple[builtins.list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"limit": limit, **({"page_token": page_token} if page_token else {})}
        page = self._json("GET", path, params=params)
        return page["items"], page.get("next_page_token") or None

    def wait_sweep(self, sweep_id: str, timeout: float | None = None, interval: float = 1.0,
                   on_progress: Callable[[Sweep], None] | None = None) -> Sweep:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            sweep = self.get_sweep(sweep_id)
            if on_progress is not None:
                on_progress(sweep)
            if sweep.done:
                return sweep
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"sweep {sweep_id} still running after {timeout:g} s")
            time.sleep(interval)

    def theory(self, activation: str, weight_var: float, bias_var: float = 0.0) -> dict[str, Any]:
        params = {"activation": activation, "weight_var": weight_var, "bias_var": bias_var}
        return self._json("GET", "/api/v1/theory", params=params)  # type: ignore[no-any-return]
