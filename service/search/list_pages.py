"""Page tokens of the token and sweep lists: the last row's (created_at, id),
signed by page_tokens with the list's name, so that a token from another
list (or from the experiment history) is refused as foreign (a 422)."""

from __future__ import annotations

from datetime import datetime

from gradatlas.service.search import page_tokens
from gradatlas.service.search.page_tokens import bad_page_token
from gradatlas.service.store.pages import Key


def encode_key(listing: str, key: Key | None, pepper: str) -> str | None:
    """The next page's token; None on the last page."""
    if key is None:
        return None
    return page_tokens.encode({"list": listing, "after": [key[0].isoformat(), key[1]]}, pepper)


def decode_key(listing: str, token: str | None, pepper: str) -> Key | None:
    """The key a token of `listing` carries; None without a token; 422 for any other token."""
    if not token:
        return None
    payload = page_tokens.decode(token, pepper)
    if not isinstance(payload, dict) or payload.get("list") != listing:
        raise bad_page_token(f"page_token was not issued for the {listing} list; start again without it")
    try:
        created, row_id = payload["after"]
        return datetime.fromisoformat(created), str(row_id)
    except (KeyError, TypeError, ValueError) as exc:
        raise bad_page_token(page_tokens.NOT_OURS) from exc
