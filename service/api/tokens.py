"""/api/v1/tokens (admin): list, create and revoke API tokens. A new token's
plaintext is in the creating response only; the database keeps its HMAC."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from gradatlas.service.api import services
from gradatlas.service.api.auth import require_admin
from gradatlas.service.api.experiments import json_body
from gradatlas.service.contracts.errors import ApiError, validated
from gradatlas.service.contracts.resources import NewToken, TokenRequest

blueprint = Blueprint("tokens", __name__, url_prefix="/api/v1")  # guarded app-wide by auth.guard_api


@blueprint.get("/tokens")
def list_tokens() -> Response:
    require_admin()
    return jsonify({"items": [info.model_dump(mode="json") for info in services().tokens.list()]})


@blueprint.post("/tokens")
def create_token() -> tuple[Response, int]:
    require_admin()
    wanted = validated(TokenRequest, json_body(), "the token request", "the token request is not valid")
    info, plaintext = services().tokens.create(wanted.name, is_admin=wanted.admin)
    return jsonify(NewToken(**info.model_dump(), token=plaintext).model_dump(mode="json")), 201


@blueprint.delete("/tokens/<token_id>")
def revoke_token(token_id: str) -> tuple[str, int]:
    require_admin()
    if not services().tokens.revoke(token_id):
        raise ApiError(404, f"no active token {token_id!r}")
    return "", 204
