"""The one codec for history page tokens: a JSON payload (the order a token
was issued for and the last row's sort values), URL-safe base64, and an
HMAC-SHA256 of it under a key derived from the settings' pepper.

Signed so that a client can only continue a page the service issued: a
forged or edited token is refused like any foreign one (a 422), and the
keyset values it carries never come from anyone but the service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from functools import lru_cache
from typing import Any

from gradatlas.service.contracts.errors import InvalidInput

NOT_OURS = "page_token is not a token this service issued"


def bad_page_token(reason: str) -> InvalidInput:
    return InvalidInput(reason, [{"loc": ["query", "page_token"], "msg": reason}])


@lru_cache(maxsize=4)
def _key(pepper: str) -> bytes:
    """A key of its own (not the pepper itself), as the web session's secret is."""
    return hmac.new(pepper.encode(), b"gradatlas page tokens", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(body: str, pepper: str) -> bytes:
    return hmac.new(_key(pepper), body.encode(), hashlib.sha256).digest()


def encode(payload: Any, pepper: str) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_b64(_mac(body, pepper))}"


def decode(token: str, pepper: str) -> Any:
    """The payload of a token `encode` made with this pepper; InvalidInput (a 422) for any other."""
    body, _, signature = token.partition(".")
    try:
        valid = hmac.compare_digest(_unb64(signature), _mac(body, pepper))
        payload = json.loads(_unb64(body)) if valid else None
    except ValueError as exc:  # bad base64 or JSON (binascii.Error and JSONDecodeError are ValueErrors)
        raise bad_page_token(NOT_OURS) from exc
    if not valid:
        raise bad_page_token(NOT_OURS)
    return payload
