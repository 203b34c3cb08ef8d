"""Incremental polling: fetch plays after the newest stored one (`after` cursor) and land them, together
with the checkpoint's new cursor and the next poll (`ingest.cadence`: from the user's own listening), in one
transaction — a crash or stop before the commit loses nothing (the next poll fetches the same plays) and
landing twice adds nothing. The plays' embedded track, album and artist objects are landed with them
(`land_plays`), so nothing recently-played already told us is ever fetched again."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.settings import Settings
from core.spotify.client import RECENTLY_PLAYED_LIMIT, SpotifyClient
from core.spotify.models import PlayHistory
from ingest.cadence import Cadence, choose, listening_rates
from ingest.landing import LandingStats, land_plays, plausible

logger = logging.getLogger(__name__)

# More than 50 new plays between two polls cannot be seen anyway (Spotify's window); a few pages at most.
MAX_PAGES = 4


@dataclass
class PollResult:
    pages: int = 0
    cursor: datetime | None = None
    landing: LandingStats = field(default_factory=LandingStats)
    newest_played_at: datetime | None = None
    # Every play Spotify could show was new: older ones may have been missed (only 50 are visible).
    window_full: bool = False
    cadence: Cadence | None = None
    next_poll_at: datetime | None = None


async def poll_cursor(engine: AsyncEngine, user_id: UUID) -> datetime | None:
    """The newest stored play of the user: the checkpoint's, else the newest row in raw.api_plays."""
    checkpoints, plays = tables.sync_checkpoints, tables.api_plays
    async with engine.connect() as connection:
        cursor: datetime | None = await connection.scalar(
            select(checkpoints.c.last_poll_latest_played_at).where(checkpoints.c.user_id == user_id)
        )
        if cursor is None:
            cursor = await connection.scalar(select(func.max(plays.c.played_at)).where(plays.c.user_id == user_id))
    return cursor


async def run_poll(
    engine: AsyncEngine, settings: Settings, client: SpotifyClient, user_id: UUID, job_run_id: int, *, now: datetime
) -> PollResult:
    result = PollResult(cursor=await poll_cursor(engine, user_id))
    collected: list[PlayHistory] = []
    after = result.cursor
    while result.pages < MAX_PAGES:
        page = await client.get_recently_played(limit=RECENTLY_PLAYED_LIMIT, after=after)
        result.pages += 1
        fresh = [item for item in page.items if after is None or item.played_at > after]
        collected += fresh
        if len(page.items) < RECENTLY_PLAYED_LIMIT or not fresh:
            break
        after = max(item.played_at for item in fresh)
    if landable := plausible(collected):  # a play dated in the future must not become the cursor
        result.newest_played_at = max(item.played_at for item in landable)
    # A known cursor and a whole window of plays after it: Spotify may have had more than it can show.
    result.window_full = result.cursor is not None and len(collected) >= RECENTLY_PLAYED_LIMIT
    checkpoints = tables.sync_checkpoints
    values: dict[str, object] = {
        "status": "idle",
        "last_poll_completed_at": now,
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
        result.landing = await land_plays(connection, user_id, collected, job_run_id)
        rates = await listening_rates(
            connection, user_id, now=now, horizon_seconds=settings.collector_max_interval_seconds
        )
        result.cadence = cadence = choose(settings, rates, now=now, window_full=result.window_full)
        result.next_poll_at = now + timedelta(seconds=cadence.seconds)
        values |= {
            "next_poll_at": result.next_poll_at,
            "poll_interval_seconds": cadence.seconds,
            "plays_per_hour": cadence.plays_per_hour,
            "poll_reason": cadence.reason,
            "last_poll_new_plays": result.landing.inserted,
        }
        if result.window_full:
            values["window_full_polls"] = checkpoints.c.window_full_polls + 1
        await connection.execute(
            update(checkpoints).where(checkpoints.c.user_id == user_id, checkpoints.c.status != "paused").values(values)
        )
    if result.window_full:
        logger.warning(
            "all %d plays Spotify shows were new since the last poll (newest stored %s): older plays may have "
            "been missed; polling every %s s until the rate is known",
            len(collected),
            result.cursor.isoformat() if result.cursor else "none",
            result.cadence.seconds,
        )
    return result
