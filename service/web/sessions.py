"""Server-side sign-in for the pages. Flask's cookie carries one random id
(`sid`) and nothing else: no token, no name. The server keeps the id's
SHA-256 with the token it acts as (service/store/web_sessions.py), so logout,
expiry and revoking the token end the session for real, and a copied cookie
or a leaked table never yields the token.

A visitor who has not signed in gets a random id too: the login form's CSRF
token derives from it. Signing in replaces it with a fresh one, so an id
planted before sign-in (session fixation) never becomes a signed-in one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app, session
from gradatlas.service.api.context import services
from gradatlas.service.contracts.resources import Principal
from gradatlas.service.store import web_sessions as stored

COOKIE_KEY = "sid"


def _hash(sid: str) -> str:
    """256 random bits need no salt or pepper: SHA-256 alone cannot be reversed."""
    return hashlib.sha256(sid.encode()).hexdigest()


def browser_id() -> str:
    """This browser's random id, made on first use."""
    sid = session.get(COOKIE_KEY)
    if not isinstance(sid, str) or len(sid) < 32:
        session.clear()  # a cookie of an older release (token inside) is dropped whole
        sid = session[COOKIE_KEY] = secrets.token_urlsafe(32)
    return sid


def csrf_token() -> str:
    """Bound to the cookie's id and the app's key: a form from another site
    cannot know it, and it changes when the id does (sign-in, sign-out)."""
    message = f"csrf:{browser_id()}".encode()
    return hmac.new(str(current_app.secret_key).encode(), message, hashlib.sha256).hexdigest()


def start(principal: Principal) -> None:
    """Sign in: a fresh id in the cookie, its hash and the token id in the table.
    The cookie is a browser-session one holding the id alone; the server's
    expiry is the one that counts."""
    sid = secrets.token_urlsafe(32)
    session.clear()
    session[COOKIE_KEY] = sid
    lifetime = timedelta(seconds=services().settings.session_lifetime_s)
    stored.insert_session(services().store, _hash(sid), principal.token_id, lifetime)


def current() -> Principal | None:
    """Who this browser is signed in as; None when it is not, or no longer."""
    sid = session.get(COOKIE_KEY)
    if not isinstance(sid, str):
        return None
    info = stored.session_token(services().store, _hash(sid))
    return None if info is None else Principal(token_id=info.id, name=info.name, is_admin=info.is_admin)


def end() -> None:
    """Sign out: the row goes, so the old cookie replayed signs in no one."""
    sid = session.get(COOKIE_KEY)
    if isinstance(sid, str):
        stored.delete_session(services().store, _hash(sid))
    session.clear()
