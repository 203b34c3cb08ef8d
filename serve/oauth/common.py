"""Shared pieces of the authorization server: URLs, scope, lifetimes, HMAC-signed values, PKCE."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import timedelta
from typing import Any

from core.crypto import hash_secret
from core.settings import Settings

SCOPE = "history:read"
SCOPES_SUPPORTED = (SCOPE,)
SCOPE_DESCRIPTIONS = {
    SCOPE: "read your listening history (plays, top artists and tracks, taste summaries) and sync status",
}

ACCESS_TOKEN_TTL = timedelta(hours=1)
REFRESH_TOKEN_TTL = timedelta(days=30)
CODE_TTL = timedelta(minutes=5)
SESSION_TTL = timedelta(hours=1)
REQUEST_TTL = timedelta(minutes=20)
CIMD_TTL = timedelta(hours=1)
SIGNIN_LINK_TTL = timedelta(hours=24)

# All start with `smcp_` so the log redaction (core.log) masks them like API tokens.
ACCESS_PREFIX = "smcp_at_"
REFRESH_PREFIX = "smcp_rt_"
CODE_PREFIX = "smcp_ac_"
CLIENT_SECRET_PREFIX = "smcp_cs_"
LINK_PREFIX = "smcp_ln_"

SESSION_COOKIE = "spotify_mcp_signin"


def issuer(settings: Settings) -> str:
    return settings.effective_public_base_url


def resource_url(settings: Settings) -> str:
    """The protected resource (RFC 8707 audience of every access token)."""
    return f"{settings.effective_public_base_url}/mcp"


def resource_metadata_url(settings: Settings) -> str:
    return f"{settings.effective_public_base_url}/.well-known/oauth-protected-resource/mcp"


def bearer_challenge(settings: Settings, error: str | None = None) -> str:
    """`WWW-Authenticate` for /mcp and the tool routes (RFC 9728 §5.1, RFC 6750 §3)."""
    parts = [
        'Bearer realm="spotify-mcp tools"',
        f'resource_metadata="{resource_metadata_url(settings)}"',
        f'scope="{SCOPE}"',
    ]
    if error:
        parts.append(f'error="{error}"')
    return ", ".join(parts)


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def stored(secret: str) -> str:
    """How a secret is stored: its sha256 (never the value)."""
    return hash_secret(secret)


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _key(settings: Settings, purpose: str) -> bytes:
    base = (
        settings.session_secret.get_secret_value()
        if settings.session_secret is not None
        else settings.encryption_keys[0]
    )
    return hashlib.sha256(f"spotify-mcp oauth {purpose}|{base}".encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, purpose: str, payload: dict[str, Any], ttl: timedelta) -> str:
    """A tamper-proof, expiring value (not secret: the payload is readable)."""
    body = _b64(json.dumps({**payload, "exp": int(time.time() + ttl.total_seconds())}, sort_keys=True).encode())
    mac = _b64(hmac.new(_key(settings, purpose), body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def unsign(settings: Settings, purpose: str, value: str | None) -> dict[str, Any] | None:
    if not value or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    expected = _b64(hmac.new(_key(settings, purpose), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        payload: dict[str, Any] = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(payload, dict) or int(payload.get("exp", 0)) < time.time():
        return None
    return payload


def mac(settings: Settings, purpose: str, *parts: str) -> str:
    return _b64(hmac.new(_key(settings, purpose), "|".join(parts).encode(), hashlib.sha256).digest())
