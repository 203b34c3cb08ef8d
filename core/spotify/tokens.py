"""Access tokens from what is stored: a user's encrypted refresh token, or the app's client credentials.

`UserTokens` refreshes when the access token has expired (or Spotify answered 401), stores the new access
token encrypted, and keeps a rotated refresh token if Spotify sends one. Refreshing never moves
`consented_at`: Spotify's 6-month limit counts from the original consent. `invalid_grant` marks the user
`needs_reauth` (users and sync_checkpoints) and raises `NeedsReauth`; nothing else is touched.
"""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.crypto import TokenCipher
from core.spotify.accounts import SpotifyAccounts
from core.spotify.errors import InvalidGrant, NeedsReauth, NotConnected
from core.spotify.models import TokenResponse

# Refresh this long before the access token's stated expiry.
EXPIRY_SKEW = timedelta(seconds=60)
REFRESH_TOKEN_LIFETIME_MONTHS = 6


def refresh_token_expiry(consented_at: datetime) -> datetime:
    """Six calendar months after consent (clamped to the month's last day)."""
    month_index = consented_at.month - 1 + REFRESH_TOKEN_LIFETIME_MONTHS
    year = consented_at.year + month_index // 12
    month = month_index % 12 + 1
    day = min(consented_at.day, calendar.monthrange(year, month)[1])
    return consented_at.replace(year=year, month=month, day=day)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Cached:
    token: str
    expires_at: datetime


class UserTokens:
    def __init__(
        self,
        engine: AsyncEngine,
        cipher: TokenCipher,
        accounts: SpotifyAccounts,
        user_id: UUID,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._cipher = cipher
        self._accounts = accounts
        self.user_id = user_id
        self._clock = clock
        self._cached: _Cached | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    async def access_token(self) -> str:
        async with self._lock:
            if self._cached is None:
                self._cached = await self._load()
            if self._cached is None or self._cached.expires_at - EXPIRY_SKEW <= self._clock():
                self._cached = await self._refresh()
            return self._cached.token

    async def refreshed_access_token(self) -> str:
        async with self._lock:
            self._cached = await self._refresh()
            return self._cached.token

    async def _row(self) -> Row[Any]:
        token_table = tables.spotify_tokens
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(token_table).where(token_table.c.user_id == self.user_id))).first()
        if row is None:
            raise NotConnected(f"user {self.user_id} has no Spotify connection")
        return row

    async def _load(self) -> _Cached | None:
        row = await self._row()
        if row.access_token_enc is None or row.access_token_expires_at is None:
            return None
        return _Cached(self._cipher.decrypt(row.access_token_enc), row.access_token_expires_at)

    async def _refresh(self) -> _Cached:
        """Refresh under a row lock, so processes sharing a user (collectors, the API) never race Spotify's
        refresh-token rotation: whoever waited for the lock takes the token the other one just stored."""
        token_table = tables.spotify_tokens
        stale = self._cached.token if self._cached is not None else None
        problem: InvalidGrant | None = None
        async with self._engine.begin() as connection:
            row = (
                await connection.execute(
                    select(token_table).where(token_table.c.user_id == self.user_id).with_for_update()
                )
            ).first()
            if row is None:
                raise NotConnected(f"user {self.user_id} has no Spotify connection")
            if row.access_token_enc is not None and row.access_token_expires_at is not None:
                stored = self._cipher.decrypt(row.access_token_enc)
                if stored != stale and row.access_token_expires_at - EXPIRY_SKEW > self._clock():
                    return _Cached(stored, row.access_token_expires_at)
            try:
                answer: TokenResponse = await self._accounts.refresh(
                    self._cipher.decrypt(row.refresh_token_enc), user_id=self.user_id
                )
            except InvalidGrant as refused:
                problem = refused
            else:
                self.refreshes += 1
                expires_at = self._clock() + timedelta(seconds=answer.expires_in)
                values: dict[str, object] = {
                    "access_token_enc": self._cipher.encrypt(answer.access_token),
                    "access_token_expires_at": expires_at,
                    "token_type": answer.token_type,
                    "updated_at": self._clock(),
                }
                if answer.scope:
                    values["scope"] = answer.scope
                if answer.refresh_token:
                    values["refresh_token_enc"] = self._cipher.encrypt(answer.refresh_token)
                await connection.execute(
                    update(token_table).where(token_table.c.user_id == self.user_id).values(values)
                )
                return _Cached(answer.access_token, expires_at)
        await mark_needs_reauth(self._engine, self.user_id, str(problem))
        raise NeedsReauth(f"Spotify no longer accepts the stored token of user {self.user_id}; they must connect again")


async def mark_needs_reauth(engine: AsyncEngine, user_id: UUID, detail: str) -> None:
    message = f"Spotify access ended ({detail}); reconnect at /auth/login"
    async with engine.begin() as connection:
        await connection.execute(
            update(tables.users).where(tables.users.c.id == user_id).values(status="needs_reauth", updated_at=_utcnow())
        )
        await connection.execute(
            update(tables.sync_checkpoints)
            .where(tables.sync_checkpoints.c.user_id == user_id)
            .values(status="needs_reauth", error_message=message[:1000], updated_at=_utcnow())
        )


class AppTokens:
    """Client-credentials tokens for catalogue calls that need no user (enrichment)."""

    def __init__(self, accounts: SpotifyAccounts, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._accounts = accounts
        self._clock = clock
        self._cached: _Cached | None = None
        self._lock = asyncio.Lock()

    async def access_token(self) -> str:
        async with self._lock:
            if self._cached is None or self._cached.expires_at - EXPIRY_SKEW <= self._clock():
                self._cached = await self._fetch()
            return self._cached.token

    async def refreshed_access_token(self) -> str:
        async with self._lock:
            self._cached = await self._fetch()
            return self._cached.token

    async def _fetch(self) -> _Cached:
        answer = await self._accounts.client_credentials()
        return _Cached(answer.access_token, self._clock() + timedelta(seconds=answer.expires_in))
