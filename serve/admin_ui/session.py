"""The admin UI's login session: a cookie holding a small JSON payload signed with HMAC-SHA256.

The key is SESSION_SECRET; without one it is derived from the admin credential, so sessions survive a
restart and die when the credential is rotated. The payload carries an expiry and a CSRF token that
every state-changing request must echo (header `X-CSRF-Token` from HTMX, or a `csrf_token` form field).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from core.crypto import constant_time_equals
from core.settings import AuthMode, Settings

COOKIE_NAME = "spmcp_admin_session"
SESSION_LIFETIME_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    subject: str
    expires_at: int
    csrf_token: str


def session_key(settings: Settings) -> bytes:
    if settings.session_secret is not None:
        material = "secret:" + settings.session_secret.get_secret_value()
    elif settings.admin_token is not None:
        material = "token:" + settings.admin_token.get_secret_value()
    elif settings.admin_password is not None:
        material = "password:" + settings.admin_password.get_secret_value()
    else:
        material = "ephemeral:" + secrets.token_hex(32)  # no credential at all: sessions last one process
    return hashlib.sha256(b"spotify-mcp admin ui session\x00" + material.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, subject: str, *, now: float | None = None) -> tuple[str, Session]:
    session = Session(
        subject=subject,
        expires_at=int((now or time.time()) + SESSION_LIFETIME_SECONDS),
        csrf_token=secrets.token_urlsafe(24),
    )
    payload = _b64(json.dumps({"sub": session.subject, "exp": session.expires_at, "csrf": session.csrf_token}).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}", session


def verify(key: bytes, cookie: str | None, *, now: float | None = None) -> Session | None:
    if not cookie or cookie.count(".") != 1:
        return None
    payload, signature = cookie.split(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        data = json.loads(_unb64(payload))
        session = Session(subject=str(data["sub"]), expires_at=int(data["exp"]), csrf_token=str(data["csrf"]))
    except ValueError, KeyError, TypeError, binascii.Error:
        return None
    if session.expires_at < (now or time.time()):
        return None
    return session


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
