"""/api/v1/tokens (admin): list, create and revoke API tokens. A new token's
plaintext is in the creating response only; the database keeps its HMAC."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from gradatlas.service.api.auth import principal
from gradatlas.service.api.context import services
from gradatlas.service.api.declare import declare
from gradatlas.service.api.requests import json_body, limit_arg
from gradatlas.service.api.schemas import PageQuery
from gradatlas.service.auth.ownership import require_admin
from gradatlas.service.contracts.errors import NotFound, validated
from gradatlas.service.contracts.resources import NewToken, TokenList, TokenRequest
from gradatlas.service.search.list_pages import decode_key, encode_key

blueprint = Blueprint("tokens", __name__, url_prefix="/api/v1")


@blueprint.get("/tokens")
@declare("List tokens (admin), oldest first", "listTokens", {200: (TokenList, "a page of tokens, never their plaintext")},
         errors=(401, 403, 422, 503), query=PageQuery)
def list_tokens() -> Response:
    require_admin(principal())
    pepper = services().settings.resolved_pepper()
    tokens, next_key = services().tokens.page(limit_arg(), decode_key("tokens", request.args.get("page_token"), pepper))
    return jsonify({"items": [info.model_dump(mode="json") for info in tokens], "next_page_token": encode_key("tokens", next_key, pepper)})


@blueprint.post("/tokens")
@declare("Create a token (admin); its plaintext is in this response only", "createToken", {201: (NewToken, "the new token")},
         errors=(400, 401, 403, 413, 415, 422, 503), json=TokenRequest)
def create_token() -> tuple[Response, int]:
    require_admin(principal())
    wanted = validated(TokenRequest, json_body(), "the token request", "the token request is not valid")
    info, plaintext = services().tokens.create(wanted.name, is_admin=wanted.admin)
    return jsonify(NewToken(**info.model_dump(), token=plaintext).model_dump(mode="json")), 201


@blueprint.delete("/tokens/<token_id>")
@declare("Revoke a token (admin)", "revokeToken", {204: (None, "revoked")}, errors=(401, 403, 404, 503))
def revoke_token(token_id: str) -> tuple[str, int]:
    require_admin(principal())
    if not services().tokens.revoke(token_id):
        raise NotFound(f"no active token {token_id!r}")
    return "", 204
