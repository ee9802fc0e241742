"""For the OpenAPI document only: the query strings the routes read, and the
few bodies they answer with that have no model elsewhere. The routes parse
their arguments themselves (their 422s name the parameter, docs/api.md), so these
models say what is accepted and returned, not how."""

from __future__ import annotations

from typing import Literal

from gradatlas.service.api.requests import MAX_LIMIT
from gradatlas.service.contracts.spec import ALL_METRICS
from gradatlas.service.jobs.sweeps import Sweep
from gradatlas.service.reports.compare import MAX_COMPARE
from gradatlas.service.reports.plots import KINDS
from gradatlas.service.science.theory import ACTIVATIONS
from gradatlas.service.search.fields import field_names
from pydantic import BaseModel, Field

FILTER_HELP = ("History query: `field op value` joined by AND/OR/NOT and parentheses; ops = != < <= > >= IN, NOT IN, "
               "LIKE, ILIKE, IS [NOT] NULL, tags CONTAINS 'x'. Fields: " + ", ".join(field_names()))


class PageQuery(BaseModel):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    page_token: str = Field("", description="next_page_token of the previous page")


class ExperimentQuery(PageQuery):
    filter: str = Field("", description=FILTER_HELP)
    order_by: str = Field("", description="comma list of `field [asc|desc]`; NULLs last; default created_at desc")


class FormatQuery(BaseModel):
    format: Literal["json", "csv"] = "json"


class PlotQuery(BaseModel):
    metric: Literal[ALL_METRICS] = Field("grad_norm", description="a metric the experiment recorded (422 otherwise)")  # type: ignore[valid-type]
    kind: Literal[KINDS] = Field("lines", description="lines: one line per recorded step over the layers; "  # type: ignore[valid-type]
                                                      "heatmap: layer × step of log10")


class TheoryQuery(BaseModel):
    activation: Literal[ACTIVATIONS] = Field(description=f"one of {', '.join(ACTIVATIONS)}")  # type: ignore[valid-type]
    weight_var: float = Field(gt=0)
    bias_var: float = Field(0, ge=0)


class CompareQuery(BaseModel):
    ids: str = Field(description=f"2 to {MAX_COMPARE} comma-separated experiment ids")
    metrics: str = Field("", description="comma-separated metrics to align (default: all recorded)")


class TheoryPrediction(BaseModel):
    """q_star null when it grows without bound, depth_scale null at exact criticality."""

    activation: str
    weight_var: float
    q_star: float | None
    chi1: float | None
    gain: float | None
    depth_scale: float | None
    critical_weight_var: float | None


class SweepList(BaseModel):
    items: list[Sweep] = Field(description="newest first, without their tables")
    next_page_token: str | None = Field(None, description="the next page's page_token; null on the last page (always sent)")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="database, broker: ok or unavailable: <cause>")
