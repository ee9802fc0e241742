"""What the API returns, as pydantic models: the store hands these out (never
ORM rows) and the OpenAPI document is generated from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class Progress(BaseModel):
    step: int
    total: int


class Experiment(BaseModel):
    id: str
    name: str
    tags: list[str]
    notes: str
    owner: str
    source: str = "service"
    status: Status
    reason: str | None = Field(None, description="machine-readable cause of `failed`/`cancelled`: "
                                                 "worker_lost, timeout, oom, error, cancelled")
    error: str | None = None
    progress: Progress
    attempt: int
    cancel_requested: bool = False
    spec: dict[str, Any]
    summary: dict[str, Any] | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    environment: dict[str, Any] | None = None


class ExperimentPage(BaseModel):
    items: list[Experiment]
    next_page_token: str | None


class Layer(BaseModel):
    index: int
    name: str
    kind: str
    shape: list[int]


class Profile(BaseModel):
    """One row per recorded step, one value per layer; null where not finite."""

    layers: list[Layer]
    steps: list[int]
    loss: list[float | None]
    accuracy: list[float | None] = Field(default_factory=list)
    metrics: dict[str, list[list[float | None]]]
    theory: dict[str, Any] | None = None


class Claim(BaseModel):
    """What a worker holds after claiming a job: the lease guards its writes."""

    experiment_id: str
    lease: str
    attempt: int
    spec: dict[str, Any]


class Heartbeat(BaseModel):
    alive: bool  # False: the lease is lost, stop now
    cancel_requested: bool


class RecoveryReport(BaseModel):
    """What one recovery run did (Store.recover): what to publish again, what it requeued or failed."""

    republish: list[tuple[str, str]] = Field(default_factory=list, description="(id, queue) to publish again")
    requeued: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)


class Principal(BaseModel):
    token_id: str
    name: str
    is_admin: bool


class TokenInfo(BaseModel):
    id: str
    name: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None = None


class TokenRequest(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    admin: bool = False


class NewToken(TokenInfo):
    token: str = Field(description="the plaintext token: shown in this response only")


class TokenList(BaseModel):
    items: list[TokenInfo] = Field(description="oldest first, revoked ones included")
    next_page_token: str | None = Field(None, description="the next page's page_token; null on the last page (always sent)")


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody
    request_id: str
