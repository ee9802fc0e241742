"""The tokens table. Only the HMAC of a token's secret is stored; the
hashing, the comparison and the cache are auth/tokens.py's."""

from __future__ import annotations

from gradatlas.service.contracts.resources import TokenInfo
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.pages import Key, keyset_select, split_page
from gradatlas.service.store.rows import aware, could_be_id, utcnow
from gradatlas.service.store.tables import TokenRow, WebSessionRow
from sqlalchemy import delete, select, update


def insert_token(store: Store, token_id: str, name: str, secret_hash: str, is_admin: bool) -> TokenInfo:
    row = TokenRow(id=token_id, name=name, secret_hash=secret_hash, is_admin=is_admin, created_at=utcnow())
    with store.session() as session:
        session.add(row)
        session.flush()
        return token_info(row)


def active_token(store: Store, token_id: str) -> tuple[TokenInfo, str] | None:
    """The token and its stored secret hash; None when unknown or revoked."""
    if not could_be_id(token_id):
        return None
    with store.session() as session:
        row = session.get(TokenRow, token_id)
        if row is None or row.revoked_at is not None:
            return None
        return token_info(row), row.secret_hash


def all_tokens(store: Store) -> list[TokenInfo]:
    """Revoked ones included, oldest first."""
    with store.session() as session:
        return [token_info(row) for row in session.scalars(select(TokenRow).order_by(TokenRow.created_at))]


def token_page(store: Store, limit: int, after: Key | None) -> tuple[list[TokenInfo], Key | None]:
    """Oldest first, revoked ones included; with the key of the last one shown when more follow."""
    with store.session() as session:
        rows, next_key = split_page(list(session.scalars(keyset_select(TokenRow, limit, after, newest_first=False))), limit)
        return [token_info(row) for row in rows], next_key


def revoke_token(store: Store, token_id: str) -> bool:
    """True when an active token was revoked now. Every web session signed in
    with it ends in the same transaction."""
    if not could_be_id(token_id):
        return False
    with store.session() as session:
        result = session.execute(
            update(TokenRow).where(TokenRow.id == token_id, TokenRow.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
        session.execute(delete(WebSessionRow).where(WebSessionRow.token_id == token_id))
        return result.rowcount == 1  # type: ignore[attr-defined]


def has_active_admin(store: Store) -> bool:
    with store.session() as session:
        found = session.scalar(select(TokenRow.id).where(TokenRow.is_admin.is_(True), TokenRow.revoked_at.is_(None)))
        return found is not None


def token_info(row: TokenRow) -> TokenInfo:
    return TokenInfo(id=row.id, name=row.name, is_admin=row.is_admin, created_at=aware(row.created_at),  # type: ignore[arg-type]
                     revoked_at=aware(row.revoked_at))
