"""The web_sessions table: a signed-in browser's hashed id → the token it acts
as. The id's hashing and the cookie are service/web/sessions.py's; this module
only keeps, finds and ends rows."""

from __future__ import annotations

from datetime import timedelta

from gradatlas.service.contracts.resources import TokenInfo
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.rows import aware, utcnow
from gradatlas.service.store.tables import TokenRow, WebSessionRow
from gradatlas.service.store.tokens import token_info
from sqlalchemy import delete, select

# last_seen_at is rewritten at most this often: the pages poll /ui/api every
# few seconds, and a write per poll would buy nothing.
TOUCH_EVERY = timedelta(seconds=60)


def insert_session(store: Store, id_hash: str, token_id: str, lifetime: timedelta) -> None:
    """A new session; sessions already expired go at the same time, so the table
    holds only live ones plus those not yet swept."""
    now = utcnow()
    with store.session() as session:
        session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at <= now))
        session.add(WebSessionRow(id_hash=id_hash, token_id=token_id, created_at=now, last_seen_at=now,
                                  expires_at=now + lifetime))


def session_token(store: Store, id_hash: str) -> TokenInfo | None:
    """The active token a live session acts as; None when the session is
    unknown, expired (then deleted) or its token is revoked."""
    now = utcnow()
    with store.session() as session:
        found = session.execute(select(WebSessionRow, TokenRow).join(TokenRow, TokenRow.id == WebSessionRow.token_id)
                                .where(WebSessionRow.id_hash == id_hash)).first()
        if found is None:
            return None
        row, token = found
        if aware(row.expires_at) <= now or token.revoked_at is not None:  # type: ignore[operator]
            session.delete(row)
            return None
        if now - aware(row.last_seen_at) >= TOUCH_EVERY:  # type: ignore[operator]
            row.last_seen_at = now
        return token_info(token)


def delete_session(store: Store, id_hash: str) -> None:
    with store.session() as session:
        session.execute(delete(WebSessionRow).where(WebSessionRow.id_hash == id_hash))


def session_count(store: Store, token_id: str) -> int:
    """How many sessions a token has, expired ones not yet swept included."""
    with store.session() as session:
        return len(session.scalars(select(WebSessionRow.id_hash).where(WebSessionRow.token_id == token_id)).all())

