"""API tokens: `ga_<id>_<secret>`. The database keeps only HMAC-SHA256 of the
secret under a pepper that lives outside it, so a leaked table grants nothing;
the id finds the row, and the hashes are compared in constant time.

Every API request authenticates, and a database read per request was a fifth
of a submit's time (benchmarks/service_throughput.py), so each process keeps a
token it has accepted for `cache_s` seconds. The price is stated: a token
revoked through another process (the CLI, another gunicorn worker) is still
accepted by this one for at most `cache_s` seconds; revoked through this
object, it is refused at once.
"""

from __future__ import annotations

import builtins  # `list` is also a method name of the class below
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

from gradatlas.service.contracts.resources import Principal, TokenInfo
from gradatlas.service.store import tokens as stored
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.pages import Key

PREFIX = "ga"
CACHE_MAX = 1024  # accepted tokens remembered per process; emptied when full


class Tokens:
    def __init__(self, store: Store, pepper: str, cache_s: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._pepper = pepper.encode()
        self.cache_s, self._clock = cache_s, clock
        # (token id, HMAC of the secret) -> (principal, accepted until): keyed by
        # the hash, so a wrong secret for a cached id is never a cache hit.
        self._cache: dict[tuple[str, str], tuple[Principal, float]] = {}
        self._lock = threading.Lock()  # gunicorn's gthread workers share this object

    def _hash(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def create(self, name: str, is_admin: bool = False) -> tuple[TokenInfo, str]:
        """Returns the token's record and its plaintext, shown this once only."""
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        info = stored.insert_token(self.store, token_id, name, self._hash(secret), is_admin)
        return info, f"{PREFIX}_{token_id}_{secret}"

    def authenticate(self, plaintext: str) -> Principal | None:
        parts = plaintext.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        token_id, secret_hash = parts[1], self._hash(parts[2])
        key = (token_id, secret_hash)
        cached = self._cache.get(key)
        if cached is not None and self._clock() < cached[1]:
            return cached[0]
        principal = self._lookup(token_id, secret_hash)
        if principal is not None and self.cache_s > 0:
            with self._lock:
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = (principal, self._clock() + self.cache_s)
        return principal

    def _lookup(self, token_id: str, secret_hash: str) -> Principal | None:
        found = stored.active_token(self.store, token_id)
        if found is None or not hmac.compare_digest(found[1], secret_hash):
            return None
        info = found[0]
        return Principal(token_id=info.id, name=info.name, is_admin=info.is_admin)

    def list(self) -> list[TokenInfo]:
        return stored.all_tokens(self.store)

    def page(self, limit: int, after: Key | None = None) -> tuple[builtins.list[TokenInfo], Key | None]:
        """Oldest first, and the key the next page starts after (None on the last page)."""
        return stored.token_page(self.store, limit, after)

    def revoke(self, token_id: str) -> bool:
        with self._lock:
            self._cache = {key: value for key, value in self._cache.items() if key[0] != token_id}
        return stored.revoke_token(self.store, token_id)

    def has_admin(self) -> bool:
        return stored.has_active_admin(self.store)
