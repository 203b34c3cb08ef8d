"""API initial sync, exactly as the spec's §5.1 (best-effort; Spotify shows only the last 50 plays).

Start with `before = now`, `limit = 50`; for each batch land tracks/artists and plays, track the oldest
`played_at`, next `before = oldest - 1 ms`. Stop on: an empty batch (`empty`), an oldest `played_at` that
does not move (`no_progress`, when INITIAL_SYNC_STOP_ON_NO_PROGRESS), reaching INITIAL_SYNC_MAX_DAYS
(`max_days`; plays older than the limit are not landed), reaching INITIAL_SYNC_MAX_REQUESTS
(`max_requests`), and 429s beyond the backoff policy (`rate_limited`: the next attempt is scheduled, not
slept). Each batch is its own transaction together with the checkpoint's progress.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.settings import Settings
from core.spotify.client import RECENTLY_PLAYED_LIMIT, SpotifyClient
from core.spotify.errors import BudgetExhausted, RateLimited
from ingest.cadence import choose, listening_rates
from ingest.landing import LandingStats, land_plays, plausible
from ingest.schedule import record_rate_limited

logger = logging.getLogger(__name__)

STOP_REASONS = ("empty", "no_progress", "max_days", "max_requests", "rate_limited")


@dataclass
class InitialSyncResult:
    stop_reason: str | None
    requests: int = 0
    landing: LandingStats = field(default_factory=LandingStats)
    earliest_played_at: datetime | None = None
    newest_played_at: datetime | None = None
    retry_after: float | None = None
    interrupted: bool = False

    @property
    def completed(self) -> bool:
        return self.stop_reason is not None


async def run_initial_sync(
    engine: AsyncEngine,
    settings: Settings,
    client: SpotifyClient,
    user_id: UUID,
    job_run_id: int,
    *,
    stop: asyncio.Event | None = None,
    now: datetime | None = None,
) -> InitialSyncResult:
    started = now or datetime.now(UTC)
    cutoff = started - timedelta(days=settings.initial_sync_max_days)
    before = int(started.timestamp() * 1000)
    result = InitialSyncResult(stop_reason=None)
    previous_oldest: datetime | None = None
    while True:
        if stop is not None and stop.is_set():
            result.interrupted = True
            break
        if result.requests >= settings.initial_sync_max_requests:
            result.stop_reason = "max_requests"
            break
        try:
            page = await client.get_recently_played(limit=RECENTLY_PLAYED_LIMIT, before=before)
        except BudgetExhausted:
            raise  # nothing was sent: the collector hands the user back for when the budget has room
        except RateLimited as limited:
            result.stop_reason = "rate_limited"
            result.retry_after = limited.retry_after
            break
        finally:
            result.requests += 1
        items = page.items
        if not items:
            result.stop_reason = "empty"
            break
        oldest = min(item.played_at for item in items)
        within = [item for item in items if item.played_at >= cutoff]
        # A play dated in the future (skipped by land_plays) must not become the polling cursor.
        newest = max((item.played_at for item in plausible(within)), default=None)
        async with engine.begin() as connection:
            landed = await land_plays(connection, user_id, within, job_run_id)
            landed.fetched = len(items)
            earliest = min(item.played_at for item in within) if within else None
            if earliest is not None:
                checkpoints = tables.sync_checkpoints
                await connection.execute(
                    update(checkpoints)
                    .where(checkpoints.c.user_id == user_id)
                    .values(
                        initial_sync_earliest_played_at=func.least(
                            checkpoints.c.initial_sync_earliest_played_at, earliest
                        ),
                        updated_at=func.now(),
                    )
                )
        result.landing.add(landed)
        if earliest is not None:
            result.earliest_played_at = min(filter(None, (result.earliest_played_at, earliest)))
        if newest is not None:
            result.newest_played_at = max(filter(None, (result.newest_played_at, newest)))
        if oldest < cutoff:
            result.stop_reason = "max_days"
            break
        if previous_oldest is not None and oldest >= previous_oldest and settings.initial_sync_stop_on_no_progress:
            result.stop_reason = "no_progress"
            break
        previous_oldest = oldest if previous_oldest is None else min(previous_oldest, oldest)
        before = int(previous_oldest.timestamp() * 1000) - 1
    await _record(engine, settings, user_id, result, now=started)
    return result


async def _record(
    engine: AsyncEngine, settings: Settings, user_id: UUID, result: InitialSyncResult, *, now: datetime
) -> None:
    checkpoints = tables.sync_checkpoints
    if not result.completed:
        return
    values: dict[str, object] = {
        "initial_sync_completed_at": now,
        "initial_sync_stop_reason": result.stop_reason,
        "status": "idle",
        "consecutive_errors": 0,
        "error_message": None,
        "next_attempt_at": None,
        "updated_at": func.now(),
    }
    if result.newest_played_at is not None:
        values["last_poll_latest_played_at"] = func.greatest(
            checkpoints.c.last_poll_latest_played_at, result.newest_played_at
        )
    async with engine.begin() as connection:
        # It just fetched the newest plays: the first poll is one interval away, from what it found.
        rates = await listening_rates(
            connection, user_id, now=now, horizon_seconds=settings.collector_max_interval_seconds
        )
        cadence = choose(settings, rates, now=now)
        values |= {
            "next_poll_at": now + timedelta(seconds=cadence.seconds),
            "poll_interval_seconds": cadence.seconds,
            "plays_per_hour": cadence.plays_per_hour,
            "poll_reason": cadence.reason,
        }
        await connection.execute(update(checkpoints).where(checkpoints.c.user_id == user_id).values(values))
    if result.stop_reason == "rate_limited" and result.retry_after is not None:
        await record_rate_limited(
            engine, user_id, result.retry_after, "initial sync stopped by Spotify rate limits (429)", now=now
        )
