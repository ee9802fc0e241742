"""/api/v1/tokens (admin): list, create and revoke API tokens. A new token's
plaintext is in the creating response only; the database keeps its HMAC."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from gradatlas.service.api import services
from gradatlas.service.api.auth import principal
from gradatlas.service.api.requests import json_body
from gradatlas.service.auth.ownership import require_admin
from gradatlas.service.contracts.errors import InvalidInput, NotFound, validation_details
from gradatlas.service.contracts.resources import NewToken, TokenRequest
from pydantic import ValidationError

blueprint = Blueprint("tokens", __name__, url_prefix="/api/v1")


@blueprint.get("/tokens")
def list_tokens() -> Response:
    require_admin(principal())
    return jsonify({"items": [info.model_dump(mode="json") for info in services().tokens.list()]})


@blueprint.post("/tokens")
def create_token() -> tuple[Response, int]:
    require_admin(principal())
    try:
        wanted = TokenRequest.model_validate(json_body())
    except ValidationError as exc:
        raise InvalidInput("the token request is not valid", validation_details(exc)) from exc
    info, plaintext = services().tokens.create(wanted.name, is_admin=wanted.admin)
    return jsonify(NewToken(**info.model_dump(), token=plaintext).model_dump(mode="json")), 201


@blueprint.delete("/tokens/<token_id>")
def revoke_token(token_id: str) -> tuple[str, int]:
    require_admin(principal())
    if not services().tokens.revoke(token_id):
        raise NotFound(f"no active token {token_id!r}")
    return "", 204
