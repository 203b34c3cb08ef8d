"""FastAPI dependencies: settings, one unit of work per request, admin authentication.

Use the `Annotated` aliases (`SessionDep`, `SettingsDep`, `AdminDep`) in endpoint signatures.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import TokenCipher, constant_time_equals
from core.db import SessionFactory, unit_of_work
from core.settings import AuthMode, Settings
from core.spotify.budget import DatabaseBudget
from serve.api.errors import Unauthorized


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_cipher(request: Request) -> TokenCipher:
    cipher: TokenCipher = request.app.state.cipher
    return cipher


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed once after the endpoint returns, rolled back on error."""
    sessions: SessionFactory = request.app.state.sessions
    async with unit_of_work(sessions) as session:
        yield session


def get_spotify_budget(request: Request) -> DatabaseBudget:
    """The installation's Spotify request budget: every request the API makes to Spotify draws on it."""
    budget: DatabaseBudget = request.app.state.spotify_budget
    return budget


SettingsDep = Annotated[Settings, Depends(get_settings)]
SpotifyBudgetDep = Annotated[DatabaseBudget, Depends(get_spotify_budget)]
CipherDep = Annotated[TokenCipher, Depends(get_cipher)]
# scope="function": commit before the response is sent, so a client that got a 2xx sees its change on
# the next request (FastAPI's default for `yield` dependencies ends them after the response).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-admin-token") or None


def is_admin_request(request: Request, settings: Settings) -> bool:
    """Admin credentials per ADMIN_AUTH_MODE, compared in constant time."""
    if settings.admin_auth_mode is AuthMode.token:
        token = bearer_token(request)
        expected = settings.admin_token
        return token is not None and expected is not None and constant_time_equals(token, expected.get_secret_value())
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or settings.admin_password is None:
        return False
    try:
        username, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except binascii.Error, UnicodeDecodeError:
        return False
    user_ok = constant_time_equals(username, settings.admin_username)
    password_ok = constant_time_equals(password, settings.admin_password.get_secret_value())
    return user_ok and password_ok


def require_admin(request: Request, settings: SettingsDep) -> None:
    if not is_admin_request(request, settings):
        challenge = 'Basic realm="spotify-mcp admin"' if settings.admin_auth_mode is AuthMode.basic else "Bearer"
        raise Unauthorized(
            "admin credentials required: send `Authorization: Bearer <ADMIN_TOKEN>` (token mode) or HTTP basic auth",
            headers={"WWW-Authenticate": challenge},
        )


AdminDep = Annotated[None, Depends(require_admin)]
