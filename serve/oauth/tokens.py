"""Authorization codes, access and refresh tokens, grants, revocation, and the access-token check of `/mcp`.

Codes are single-use, PKCE S256 only, bound to client, redirect URI, resource and user; a replayed code revokes
every token issued from it. Access tokens live an hour and carry their audience (the `/mcp` resource URL).
Refresh tokens rotate on every use; presenting a rotated (or revoked) refresh token is reuse: the whole family
(every access and refresh token of that authorization) is revoked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, ScalarSelect, and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import tables
from core.crypto import constant_time_equals
from core.settings import Settings
from serve.oauth.common import (
    ACCESS_PREFIX,
    ACCESS_TOKEN_TTL,
    CODE_PREFIX,
    CODE_TTL,
    REFRESH_PREFIX,
    REFRESH_TOKEN_TTL,
    SCOPE,
    new_secret,
    pkce_challenge,
    resource_url,
    stored,
)
from serve.tools.registry import Principal


class GrantError(Exception):
    """A token request refused (RFC 6749 §5.2 error codes)."""

    def __init__(self, error: str, description: str, status_code: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    scope: str
    expires_in: int

    def body(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }


async def create_code(
    session: AsyncSession,
    *,
    client_id: str,
    user_id: UUID,
    redirect_uri: str,
    code_challenge: str,
    resource: str,
    scope: str,
) -> str:
    code = new_secret(CODE_PREFIX)
    # Housekeeping: codes and tokens a day past their expiry can no longer be used or reused.
    stale = datetime.now(UTC) - timedelta(days=1)
    await session.execute(
        delete(tables.oauth_authorization_codes).where(tables.oauth_authorization_codes.c.expires_at < stale)
    )
    await session.execute(delete(tables.oauth_tokens).where(tables.oauth_tokens.c.expires_at < stale))
    await session.execute(
        tables.oauth_authorization_codes.insert().values(
            code_hash=stored(code),
            client_id=client_id,
            user_id=user_id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            resource=resource,
            scope=scope,
            family_id=uuid.uuid4(),
            expires_at=datetime.now(UTC) + CODE_TTL,
        )
    )
    grants = tables.oauth_grants
    await session.execute(
        insert(grants)
        .values(user_id=user_id, client_id=client_id, scope=scope)
        .on_conflict_do_update(
            index_elements=[grants.c.user_id, grants.c.client_id],
            set_={"scope": scope, "last_authorized_at": func.now(), "revoked_at": None},
        )
    )
    return code


async def revoke_family(session: AsyncSession, family_id: UUID) -> None:
    table = tables.oauth_tokens
    await session.execute(
        update(table).where(table.c.family_id == family_id, table.c.revoked_at.is_(None)).values(revoked_at=func.now())
    )


async def issue_tokens(
    session: AsyncSession,
    *,
    family_id: UUID,
    client_id: str,
    user_id: UUID,
    resource: str,
    scope: str,
    now: datetime | None = None,
) -> IssuedTokens:
    now = now or datetime.now(UTC)
    access = new_secret(ACCESS_PREFIX)
    refresh = new_secret(REFRESH_PREFIX)
    common = {"family_id": family_id, "client_id": client_id, "user_id": user_id, "resource": resource, "scope": scope}
    await session.execute(
        tables.oauth_tokens.insert(),
        [
            {**common, "token_hash": stored(access), "kind": "access", "expires_at": now + ACCESS_TOKEN_TTL},
            {**common, "token_hash": stored(refresh), "kind": "refresh", "expires_at": now + REFRESH_TOKEN_TTL},
        ],
    )
    return IssuedTokens(access, refresh, scope, int(ACCESS_TOKEN_TTL.total_seconds()))


def _checked_resource(settings: Settings, requested: str | None, bound: str) -> str:
    if requested is not None and requested.rstrip("/") != bound.rstrip("/"):
        raise GrantError("invalid_target", f"this grant is for the resource {bound}")
    if bound != resource_url(settings):
        raise GrantError("invalid_target", f"tokens are issued only for {resource_url(settings)}")
    return bound


async def exchange_code(
    session: AsyncSession,
    settings: Settings,
    *,
    client_id: str,
    code: str | None,
    redirect_uri: str | None,
    code_verifier: str | None,
    resource: str | None,
) -> IssuedTokens:
    if not code:
        raise GrantError("invalid_request", "code is required")
    table = tables.oauth_authorization_codes
    row = (await session.execute(select(table).where(table.c.code_hash == stored(code)).with_for_update())).first()
    if row is None or row.client_id != client_id:
        raise GrantError("invalid_grant", "unknown authorization code")
    if row.used_at is not None:
        # Replay: whoever holds this code may be an attacker; revoke what the first exchange issued.
        await revoke_family(session, row.family_id)
        raise GrantError("invalid_grant", "authorization code already used; its tokens are revoked")
    await session.execute(update(table).where(table.c.code_hash == row.code_hash).values(used_at=func.now()))
    if row.expires_at <= datetime.now(UTC):
        raise GrantError("invalid_grant", "authorization code expired")
    if redirect_uri != row.redirect_uri:
        raise GrantError("invalid_grant", "redirect_uri does not match the authorization request")
    if not code_verifier:
        raise GrantError("invalid_grant", "code_verifier is required (PKCE)")
    if not 43 <= len(code_verifier) <= 128 or not constant_time_equals(
        pkce_challenge(code_verifier), row.code_challenge
    ):
        raise GrantError("invalid_grant", "code_verifier does not match the code_challenge")
    bound = _checked_resource(settings, resource, row.resource)
    grants = tables.oauth_grants
    live_grant = (
        await session.execute(
            select(grants.c.id).where(
                grants.c.user_id == row.user_id, grants.c.client_id == client_id, grants.c.revoked_at.is_(None)
            )
        )
    ).first()
    if live_grant is None:
        raise GrantError("invalid_grant", "the person's consent for this client was revoked")
    return await issue_tokens(
        session, family_id=row.family_id, client_id=client_id, user_id=row.user_id, resource=bound, scope=row.scope
    )


async def refresh(
    session: AsyncSession,
    settings: Settings,
    *,
    client_id: str,
    refresh_token: str | None,
    resource: str | None,
    scope: str | None,
) -> IssuedTokens:
    if not refresh_token:
        raise GrantError("invalid_request", "refresh_token is required")
    table = tables.oauth_tokens
    row = (
        await session.execute(
            select(table)
            .where(table.c.token_hash == stored(refresh_token), table.c.kind == "refresh")
            .with_for_update()
        )
    ).first()
    if row is None or row.client_id != client_id:
        raise GrantError("invalid_grant", "unknown refresh token")
    if row.rotated_at is not None or row.revoked_at is not None:
        await revoke_family(session, row.family_id)
        raise GrantError("invalid_grant", "refresh token reuse detected; this authorization is revoked")
    if row.expires_at <= datetime.now(UTC):
        raise GrantError("invalid_grant", "refresh token expired")
    granted = set(row.scope.split())
    if scope is not None and not set(scope.split()) <= granted:
        raise GrantError("invalid_scope", "a refresh cannot widen the scope")
    bound = _checked_resource(settings, resource, row.resource)
    await session.execute(update(table).where(table.c.id == row.id).values(rotated_at=func.now()))
    return await issue_tokens(
        session,
        family_id=row.family_id,
        client_id=client_id,
        user_id=row.user_id,
        resource=bound,
        scope=scope or row.scope,
    )


async def revoke_token(session: AsyncSession, token: str, client_id: str) -> None:
    """RFC 7009: revoking a refresh token revokes its family; an unknown token is not an error."""
    table = tables.oauth_tokens
    row = (await session.execute(select(table).where(table.c.token_hash == stored(token)))).first()
    if row is None or row.client_id != client_id:
        return
    if row.kind == "refresh":
        await revoke_family(session, row.family_id)
    else:
        await session.execute(update(table).where(table.c.id == row.id).values(revoked_at=func.now()))


async def authenticate_access_token(
    session: AsyncSession, token: str, settings: Settings, *, now: datetime | None = None
) -> Principal | None:
    """The user principal of a live OAuth access token for this resource, or None (wrong audience, expired,
    revoked, lacking the scope, or not ours)."""
    if not token.startswith(ACCESS_PREFIX):
        return None
    table, users = tables.oauth_tokens, tables.users
    row = (
        await session.execute(
            select(table.c.user_id, table.c.resource, table.c.scope, table.c.expires_at, table.c.revoked_at)
            .join(users, users.c.id == table.c.user_id)
            .where(table.c.token_hash == stored(token), table.c.kind == "access", users.c.status != "disabled")
        )
    ).first()
    now = now or datetime.now(UTC)
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= now
        or row.resource != resource_url(settings)
        or SCOPE not in row.scope.split()
    ):
        return None
    return Principal("user", user_id=row.user_id)


# --- grants (admin) ---------------------------------------------------------------------------------------------


def live_token_count(*correlation: ColumnElement[bool]) -> ScalarSelect[int]:
    """How many unexpired, unrevoked, not yet rotated tokens match `correlation` (for a correlated subquery)."""
    tokens = tables.oauth_tokens
    return (
        select(func.count())
        .where(
            *correlation,
            tokens.c.revoked_at.is_(None),
            tokens.c.rotated_at.is_(None),
            tokens.c.expires_at > func.now(),
        )
        .scalar_subquery()
    )


async def list_grants(session: AsyncSession, user_id: UUID) -> list[dict[str, Any]]:
    grants, clients, tokens = tables.oauth_grants, tables.oauth_clients, tables.oauth_tokens
    live = live_token_count(tokens.c.user_id == grants.c.user_id, tokens.c.client_id == grants.c.client_id)
    rows = await session.execute(
        select(
            grants.c.id,
            grants.c.client_id,
            clients.c.client_name,
            clients.c.kind.label("client_kind"),
            clients.c.redirect_uris,
            grants.c.scope,
            grants.c.created_at,
            grants.c.last_authorized_at,
            grants.c.revoked_at,
            live.label("live_tokens"),
        )
        .join(clients, clients.c.client_id == grants.c.client_id)
        .where(grants.c.user_id == user_id)
        .order_by(grants.c.last_authorized_at.desc())
    )
    return [dict(row._mapping) for row in rows]


async def revoke_grant(session: AsyncSession, user_id: UUID, grant_id: UUID) -> bool:
    """Revoke a grant and every token it issued; False when there is no such grant for this user."""
    grants, tokens = tables.oauth_grants, tables.oauth_tokens
    row = (
        await session.execute(
            update(grants)
            .where(grants.c.id == grant_id, grants.c.user_id == user_id)
            .values(revoked_at=func.coalesce(grants.c.revoked_at, func.now()))
            .returning(grants.c.client_id)
        )
    ).first()
    if row is None:
        return False
    await session.execute(
        update(tokens)
        .where(and_(tokens.c.user_id == user_id, tokens.c.client_id == row.client_id, tokens.c.revoked_at.is_(None)))
        .values(revoked_at=func.now())
    )
    return True
