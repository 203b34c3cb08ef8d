"""One Spotify request budget for the whole installation (DESIGN §2; docs/spotify-limits.md).

Spotify's 2026 quota counts requests per developer account over a rolling 24 h and, once spent, answers every
call with 429 `QUOTA_EXCEEDED` for 13-15 hours. So every request any process makes — polling, initial sync,
enrichment, tool lookups, token refreshes — is first written to `app.spotify_requests`, and a request is only
sent while the rows of the last 24 h leave room for its purpose:

| purpose (priority order) | may spend while the rolling-24 h count is below |
|---|---|
| token (refresh, client credentials, sign-in) | the budget |
| polling | the budget minus 1 % (a poll needs a token first) |
| initial_sync | the budget minus SPOTIFY_POLLING_RESERVE |
| enrichment | that minus 5 % of the budget, and at most SPOTIFY_ENRICHMENT_SHARE of the budget for itself |
| tools | that minus another 5 % |

A higher purpose can always spend what a lower one may, never the reverse; the reserve keeps polling (the
only thing that loses data when it stops) running whatever the others do. When Spotify itself says stop
(429 with `QUOTA_EXCEEDED`, or a Retry-After too long to wait), `block()` records it once in
`app.spotify_quota_blocks` and every process refuses every request until then. Requests are counted with a
transaction-level advisory lock, so processes never overshoot together. Time comes from an injectable clock
(the collector's simulation runs days in virtual time).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.settings import Settings
from core.spotify.errors import BudgetExhausted, QuotaBlocked

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
# Rows older than this are deleted (`purge`): a week of calls per day for the admin UI, then nothing.
KEEP = timedelta(days=8)

type Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Purpose(StrEnum):
    """Why a request is made, highest priority first (the values are `app.spotify_requests.purpose`)."""

    token = "token"
    polling = "polling"
    initial_sync = "initial_sync"
    enrichment = "enrichment"
    tools = "tools"


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    per_day: int = 1000
    polling_reserve: int = 200
    enrichment_share: float = 0.3

    @classmethod
    def from_settings(cls, settings: Settings) -> BudgetPolicy:
        return cls(
            per_day=settings.spotify_request_budget,
            polling_reserve=settings.spotify_polling_reserve,
            enrichment_share=settings.spotify_enrichment_share,
        )

    @property
    def _step(self) -> int:
        return max(1, self.per_day // 20)

    def ceiling(self, purpose: Purpose) -> int:
        """The rolling-24 h count below which `purpose` may still send a request."""
        shared = self.per_day - self.polling_reserve
        match purpose:
            case Purpose.token:
                return self.per_day
            case Purpose.polling:
                return self.per_day - max(1, self.per_day // 100)
            case Purpose.initial_sync:
                return shared
            case Purpose.enrichment:
                return max(0, shared - self._step)
            case Purpose.tools:
                return max(0, shared - 2 * self._step)

    @property
    def enrichment_cap(self) -> int:
        return int(self.per_day * self.enrichment_share)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a purpose may not spend now, and when it may again."""

    reason: str
    until: datetime
    blocked_by_spotify: bool


@dataclass(slots=True)
class BudgetState:
    per_day: int
    used: int
    by_purpose: dict[str, int]
    # When the oldest counted request leaves the window (one more request becomes possible); None when none.
    next_release_at: datetime | None
    blocked_until: datetime | None
    blocked_reason: str | None
    blocked_since: datetime | None
    checked_at: datetime
    ceilings: dict[str, int] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return max(0, self.per_day - self.used)


class RequestBudget(Protocol):
    async def spend(self, purpose: Purpose, endpoint: str, user_id: UUID | None = None) -> None:
        """Count one request about to be sent, or raise `BudgetExhausted` / `QuotaBlocked` (nothing is sent)."""
        ...

    async def block(self, retry_after: float, *, reason: str | None, endpoint: str) -> datetime:
        """Spotify stopped the app: no request of the installation before the returned time."""
        ...


class Unmetered:
    """No budget (unit tests, one-off scripts): every request may go; a block is remembered by this object only
    (each client without a budget gets its own)."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self._clock = clock
        self.spent: list[tuple[Purpose, str]] = []
        self.blocked_until: datetime | None = None

    async def spend(self, purpose: Purpose, endpoint: str, user_id: UUID | None = None) -> None:
        del user_id
        if self.blocked_until is not None and self.blocked_until > self._clock():
            wait = (self.blocked_until - self._clock()).total_seconds()
            raise QuotaBlocked(self.blocked_until, retry_after=wait, reason=None, endpoint=endpoint)
        self.spent.append((purpose, endpoint))

    async def block(self, retry_after: float, *, reason: str | None, endpoint: str) -> datetime:
        del reason, endpoint
        self.blocked_until = self._clock() + timedelta(seconds=retry_after)
        return self.blocked_until


# pg_advisory_xact_lock key: the first 8 bytes of sha256("spotify-mcp request budget"), as a signed bigint.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"spotify-mcp request budget").digest()[:8], "big", signed=True)

_ACTIVE_BLOCK = text(
    """
    SELECT id, started_at, blocked_until, reason FROM app.spotify_quota_blocks
    WHERE blocked_until > :now ORDER BY blocked_until DESC LIMIT 1
    """
)

_USED = text(
    """
    SELECT count(*) AS used, count(*) FILTER (WHERE purpose = 'enrichment') AS enrichment,
           min(requested_at) AS oldest
    FROM app.spotify_requests WHERE requested_at > :since
    """
)

# The request whose leaving the window makes room again: the (used - ceiling)-th oldest (0-based).
_RELEASE = text(
    """
    SELECT requested_at FROM app.spotify_requests
    WHERE requested_at > :since AND (CAST(:purpose AS text) IS NULL OR purpose = :purpose)
    ORDER BY requested_at OFFSET :offset LIMIT 1
    """
)


class DatabaseBudget:
    """The budget in PostgreSQL, shared by every process of the installation."""

    def __init__(self, engine: AsyncEngine, policy: BudgetPolicy, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self.policy = policy
        self._clock = clock

    # ----------------------------------------------------------------------------------------------
    async def _refusals(
        self, connection: AsyncConnection, purposes: tuple[Purpose, ...], now: datetime
    ) -> dict[Purpose, Refusal | None]:
        block = (await connection.execute(_ACTIVE_BLOCK, {"now": now})).first()
        if block is not None:
            reason = f"Spotify stopped this app's requests ({block.reason or 'Retry-After'})"
            return dict.fromkeys(purposes, Refusal(reason, block.blocked_until, True))
        since = now - WINDOW
        used = (await connection.execute(_USED, {"since": since})).one()
        found: dict[Purpose, Refusal | None] = {}
        for purpose in purposes:
            ceiling = self.policy.ceiling(purpose)
            cap = self.policy.enrichment_cap
            if used.used >= ceiling:
                until = await self._release(connection, since, None, used.used - ceiling)
                found[purpose] = Refusal(
                    f"the installation's Spotify budget leaves no room for {purpose.value} "
                    f"({used.used} of {self.policy.per_day} requests in the last 24 h; {purpose.value} stops at "
                    f"{ceiling})",
                    until,
                    False,
                )
            elif purpose is Purpose.enrichment and used.enrichment >= cap:
                until = await self._release(connection, since, Purpose.enrichment, used.enrichment - cap)
                found[purpose] = Refusal(
                    f"enrichment has used its share of the Spotify budget ({used.enrichment} of {cap} requests in "
                    "the last 24 h, SPOTIFY_ENRICHMENT_SHARE)",
                    until,
                    False,
                )
            else:
                found[purpose] = None
        return found

    async def _refusal(self, connection: AsyncConnection, purpose: Purpose, now: datetime) -> Refusal | None:
        return (await self._refusals(connection, (purpose,), now))[purpose]

    async def _release(
        self, connection: AsyncConnection, since: datetime, purpose: Purpose | None, offset: int
    ) -> datetime:
        oldest = await connection.scalar(
            _RELEASE, {"since": since, "purpose": purpose.value if purpose else None, "offset": max(0, offset)}
        )
        return (oldest or since) + WINDOW

    # ----------------------------------------------------------------------------------------------
    async def check(self, purpose: Purpose) -> Refusal | None:
        """Whether `purpose` may spend now (a look, nothing counted)."""
        return (await self.check_all())[purpose]

    async def check_all(self) -> dict[Purpose, Refusal | None]:
        """Whether each purpose may spend now, in one look: the collector asks before claiming work."""
        async with self._engine.connect() as connection:
            return await self._refusals(connection, tuple(Purpose), self._clock())

    async def spend(self, purpose: Purpose, endpoint: str, user_id: UUID | None = None) -> None:
        now = self._clock()
        async with self._engine.begin() as connection:
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            refusal = await self._refusal(connection, purpose, now)
            if refusal is None:
                await connection.execute(
                    text(
                        "INSERT INTO app.spotify_requests (requested_at, purpose, endpoint, user_id) "
                        "VALUES (:now, :purpose, :endpoint, :user_id)"
                    ),
                    {"now": now, "purpose": purpose.value, "endpoint": endpoint[:200], "user_id": user_id},
                )
                return
        wait = (refusal.until - now).total_seconds()
        if refusal.blocked_by_spotify:
            raise QuotaBlocked(refusal.until, retry_after=wait, reason=refusal.reason, endpoint=endpoint)
        raise BudgetExhausted(refusal.until, retry_after=wait, reason=refusal.reason, endpoint=endpoint)

    async def block(self, retry_after: float, *, reason: str | None, endpoint: str) -> datetime:
        now = self._clock()
        until = now + timedelta(seconds=retry_after)
        async with self._engine.begin() as connection:
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            active = (await connection.execute(_ACTIVE_BLOCK, {"now": now})).first()
            if active is not None:
                # Another process met the same block: one block, possibly a little longer.
                current: datetime = active.blocked_until
                if until > current:
                    await connection.execute(
                        text("UPDATE app.spotify_quota_blocks SET blocked_until = :until WHERE id = :id"),
                        {"until": until, "id": active.id},
                    )
                return max(until, current)
            await connection.execute(
                text(
                    "INSERT INTO app.spotify_quota_blocks (started_at, blocked_until, reason, endpoint, "
                    "retry_after_seconds) VALUES (:now, :until, :reason, :endpoint, :retry_after)"
                ),
                {"now": now, "until": until, "reason": reason, "endpoint": endpoint, "retry_after": retry_after},
            )
        logger.warning(
            "Spotify stopped this app's requests (%s, Retry-After %.0f s on %s): no Spotify call from any process "
            "of this installation until %s UTC",
            reason or "rate limit",
            retry_after,
            endpoint,
            until.strftime("%Y-%m-%d %H:%M:%S"),
            extra={"ctx": {"quota_blocked_until": until.isoformat(), "reason": reason}},
        )
        return until

    async def state(self) -> BudgetState:
        return await budget_state(self._engine, self.policy, self._clock())

    async def purge(self) -> int:
        """Forget requests (and blocks) older than `KEEP`."""
        cutoff = self._clock() - KEEP
        async with self._engine.begin() as connection:
            deleted = await connection.execute(
                text("DELETE FROM app.spotify_requests WHERE requested_at < :cutoff"), {"cutoff": cutoff}
            )
            await connection.execute(
                text("DELETE FROM app.spotify_quota_blocks WHERE blocked_until < :cutoff"), {"cutoff": cutoff}
            )
        return int(deleted.rowcount)


async def budget_state(
    source: AsyncEngine | AsyncConnection, policy: BudgetPolicy, now: datetime | None = None
) -> BudgetState:
    """Used and remaining in the rolling 24 h, per purpose, and any block by Spotify (admin UI, ops tools)."""
    if isinstance(source, AsyncEngine):
        async with source.connect() as connection:
            return await budget_state(connection, policy, now)
    now = now or utcnow()
    since = now - WINDOW
    block = (await source.execute(_ACTIVE_BLOCK, {"now": now})).first()
    rows = (
        await source.execute(
            text(
                "SELECT purpose, count(*) AS n, min(requested_at) AS oldest FROM app.spotify_requests "
                "WHERE requested_at > :since GROUP BY purpose"
            ),
            {"since": since},
        )
    ).all()
    by_purpose = {purpose.value: 0 for purpose in Purpose} | {row.purpose: int(row.n) for row in rows}
    oldest = min((row.oldest for row in rows), default=None)
    return BudgetState(
        per_day=policy.per_day,
        used=sum(by_purpose.values()),
        by_purpose=by_purpose,
        next_release_at=oldest + WINDOW if oldest is not None else None,
        blocked_until=block.blocked_until if block is not None else None,
        blocked_reason=block.reason if block is not None else None,
        blocked_since=block.started_at if block is not None else None,
        checked_at=now,
        ceilings={purpose.value: policy.ceiling(purpose) for purpose in Purpose},
    )
