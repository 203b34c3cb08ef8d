"""Per-user API tokens for the tools: created by the admin (API or CLI), stored as sha256 hashes, revocable.

A token is shown once at creation. `authenticate_request` turns the request's credentials into a `Principal`:
the admin credentials (any user) or a live user token (that user only); every tool face uses it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from core import tables
from core.crypto import API_TOKEN_PREFIX, hash_secret, new_api_token
from core.settings import Settings
from serve.api.deps import bearer_token, is_admin_request
from serve.api.errors import NotFound
from serve.oauth.common import bearer_challenge
from serve.oauth.tokens import authenticate_access_token
from serve.tools.errors import Unauthenticated, UnknownUser
from serve.tools.registry import Principal

PREFIX_LENGTH = len(API_TOKEN_PREFIX) + 6
# last_used_at is written at most this often per token, so tool calls do not all write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenInfo(BaseModel):
    id: UUID
    user_id: UUID
    name: str
    token_prefix: str
    scopes: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class CreatedApiToken(ApiTokenInfo):
    token: str


_COLUMNS = (
    tables.api_tokens.c.id,
    tables.api_tokens.c.user_id,
    tables.api_tokens.c.name,
    tables.api_tokens.c.token_prefix,
    tables.api_tokens.c.scopes,
    tables.api_tokens.c.created_at,
    tables.api_tokens.c.last_used_at,
    tables.api_tokens.c.expires_at,
    tables.api_tokens.c.revoked_at,
)


def _info(row: Any) -> ApiTokenInfo:
    return ApiTokenInfo.model_validate(dict(row._mapping))


async def create_token(
    session: AsyncSession, user_id: UUID, name: str, *, expires_in_days: int | None = None
) -> CreatedApiToken:
    exists = await session.execute(select(tables.users.c.id).where(tables.users.c.id == user_id))
    if exists.first() is None:
        raise UnknownUser(f"no user with id {user_id}", details={"user_id": str(user_id)})
    token = new_api_token()
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    row = (
        await session.execute(
            tables.api_tokens.insert()
            .values(
                user_id=user_id,
                name=name,
                token_hash=hash_secret(token),
                token_prefix=token[:PREFIX_LENGTH],
                expires_at=expires_at,
            )
            .returning(*_COLUMNS)
        )
    ).one()
    return CreatedApiToken(token=token, **_info(row).model_dump())


async def list_tokens(session: AsyncSession, user_id: UUID | None = None) -> list[ApiTokenInfo]:
    query = select(*_COLUMNS).order_by(tables.api_tokens.c.created_at.desc())
    if user_id is not None:
        query = query.where(tables.api_tokens.c.user_id == user_id)
    return [_info(row) for row in await session.execute(query)]


async def revoke_token(session: AsyncSession, token_id: UUID) -> ApiTokenInfo:
    """Revoke a token (idempotent: revoking twice keeps the first time)."""
    table = tables.api_tokens
    row = (
        await session.execute(
            update(table)
            .where(table.c.id == token_id)
            .values(revoked_at=func.coalesce(table.c.revoked_at, func.now()))
            .returning(*_COLUMNS)
        )
    ).first()
    if row is None:
        raise NotFound(f"no API token with id {token_id}", details={"token_id": str(token_id)})
    return _info(row)


async def authenticate_token(session: AsyncSession, token: str, *, now: datetime | None = None) -> Principal | None:
    """The user principal of a live (not revoked, not expired) token, or None."""
    if not token.startswith(API_TOKEN_PREFIX):
        return None
    table = tables.api_tokens
    row = (
        await session.execute(
            select(table.c.id, table.c.user_id, table.c.expires_at, table.c.revoked_at, table.c.last_used_at).where(
                table.c.token_hash == hash_secret(token)
            )
        )
    ).first()
    now = now or datetime.now(UTC)
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        await session.execute(update(table).where(table.c.id == row.id).values(last_used_at=now))
    return Principal("user", user_id=row.user_id, token_id=row.id)


async def authenticate_request(request: Request, session: AsyncSession, settings: Settings) -> Principal:
    """Admin credentials or a user API token; anything else is a 401 naming what to send."""
    if is_admin_request(request, settings):
        return Principal.admin()
    token = bearer_token(request)
    if token is not None:
        principal = await authenticate_token(session, token)
        if principal is None:  # an OAuth access token (ChatGPT/Claude connectors): audience, expiry, scope
            principal = await authenticate_access_token(session, token, settings)
        if principal is not None:
            return principal
    # RFC 6750 §3.1: a token that was sent but is not valid says so, so OAuth clients refresh or sign in again.
    raise Unauthenticated(
        "send `Authorization: Bearer <token>` with a user API token (spotify-mcp token create --user ...) "
        "or the admin token",
        headers={"WWW-Authenticate": bearer_challenge(settings, "invalid_token" if token is not None else None)},
    )
