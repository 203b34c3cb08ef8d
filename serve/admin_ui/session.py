"""The admin UI's login sessions, kept server-side: the cookie holds only a random id.

Logout (or expiry) removes the session, so a copied cookie stops working at once — which a self-contained signed
cookie cannot do. Sessions live in this process's memory, like Gitea's default session store: the admin UI is one
process, and a restart signs everyone out (a cost paid rarely, and never a security one). Each session carries
its CSRF token, which every state-changing request must send back in the `X-CSRF-Token` header (HTMX) or a
`csrf_token` form field — never in the URL, where logs and Referer headers would keep it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from core.crypto import constant_time_equals
from core.settings import AuthMode, Settings

COOKIE_NAME = "spmcp_admin_session"
SESSION_LIFETIME_SECONDS = 12 * 3600
# More live sessions than one household's admins will ever open; past it the oldest goes first.
MAX_SESSIONS = 1000


@dataclass(frozen=True, slots=True)
class Session:
    subject: str
    expires_at: float
    csrf_token: str


def _lookup_key(cookie: str) -> str:
    # Stored by hash: a lookup compares digests of the id, never the id itself.
    return hashlib.sha256(cookie.encode()).hexdigest()


class SessionStore:
    """Live sessions by id. `clock` is injectable so tests can move time without waiting."""

    def __init__(self, *, lifetime_seconds: float = SESSION_LIFETIME_SECONDS, clock: Callable[[], float] = time.time):
        self.lifetime_seconds = lifetime_seconds
        self.clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, subject: str) -> tuple[str, Session]:
        """A new session; returns the cookie value (shown to the browser only) and the session."""
        self._drop_expired()
        cookie = secrets.token_urlsafe(32)
        session = Session(subject, self.clock() + self.lifetime_seconds, secrets.token_urlsafe(24))
        self._sessions[_lookup_key(cookie)] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return cookie, session

    def get(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 256:
            return None
        key = _lookup_key(cookie)
        session = self._sessions.get(key)
        if session is None:
            return None
        if session.expires_at <= self.clock():
            del self._sessions[key]
            return None
        return session

    def revoke(self, cookie: str | None) -> None:
        """End the session now (logout): its cookie is refused from here on."""
        if cookie:
            self._sessions.pop(_lookup_key(cookie), None)

    def _drop_expired(self) -> None:
        now = self.clock()
        for key in [key for key, session in self._sessions.items() if session.expires_at <= now]:
            del self._sessions[key]


def check_login(settings: Settings, *, token: str | None, username: str | None, password: str | None) -> bool:
    """The login form's credentials per FRONTEND_AUTH_MODE, compared in constant time."""
    if settings.effective_frontend_auth_mode is AuthMode.token:
        expected = settings.admin_token
        return bool(token) and expected is not None and constant_time_equals(token or "", expected.get_secret_value())
    if settings.admin_password is None:
        return False
    user_ok = constant_time_equals(username or "", settings.admin_username)
    password_ok = constant_time_equals(password or "", settings.admin_password.get_secret_value())
    return user_ok and password_ok
