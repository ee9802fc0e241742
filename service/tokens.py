"""API tokens: `ga_<id>_<secret>`. The database keeps only HMAC-SHA256 of the
secret under a pepper that lives outside it, so a leaked table grants nothing;
the id finds the row, and the hashes are compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select, update

from service.db.models import TokenRow
from service.resources import Principal, TokenInfo
from service.store import Store, aware, utcnow

PREFIX = "ga"


class Tokens:
    def __init__(self, store: Store, pepper: str) -> None:
        self.store = store
        self._pepper = pepper.encode()

    def _hash(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def create(self, name: str, is_admin: bool = False) -> tuple[TokenInfo, str]:
        """Returns the token's record and its plaintext, shown this once only."""
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        row = TokenRow(id=token_id, name=name, secret_hash=self._hash(secret), is_admin=is_admin, created_at=utcnow())
        with self.store.session() as session:
            session.add(row)
            session.flush()
            info = _info(row)
        return info, f"{PREFIX}_{token_id}_{secret}"

    def authenticate(self, plaintext: str) -> Principal | None:
        parts = plaintext.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        token_id, secret = parts[1], parts[2]
        with self.store.session() as session:
            row = session.get(TokenRow, token_id)
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.secret_hash, self._hash(secret)):
                return None
            return Principal(token_id=row.id, name=row.name, is_admin=row.is_admin)

    def list(self) -> list[TokenInfo]:
        with self.store.session() as session:
            return [_info(row) for row in session.scalars(select(TokenRow).order_by(TokenRow.created_at))]

    def revoke(self, token_id: str) -> bool:
        with self.store.session() as session:
            result = session.execute(
                update(TokenRow).where(TokenRow.id == token_id, TokenRow.revoked_at.is_(None)).values(revoked_at=utcnow())
            )
            return result.rowcount == 1  # type: ignore[attr-defined]

    def has_admin(self) -> bool:
        with self.store.session() as session:
            found = session.scalar(select(TokenRow.id).where(TokenRow.is_admin.is_(True), TokenRow.revoked_at.is_(None)))
            return found is not None


def _info(row: TokenRow) -> TokenInfo:
    return TokenInfo(id=row.id, name=row.name, is_admin=row.is_admin, created_at=aware(row.created_at),  # type: ignore[arg-type]
                     revoked_at=aware(row.revoked_at))
