"""Incremental polling: fetch plays after the newest stored one (`after` cursor) and land them, together
with the checkpoint's new cursor, in one transaction — a crash or stop before the commit loses nothing
(the next poll fetches the same plays) and landing twice adds nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.spotify.client import RECENTLY_PLAYED_LIMIT, SpotifyClient
from core.spotify.models import PlayHistory
from ingest.landing import LandingStats, land_plays, plausible

# More than 50 new plays between two polls cannot be seen anyway (Spotify's window); a few pages at most.
MAX_PAGES = 4


@dataclass
class PollResult:
    pages: int = 0
    cursor: datetime | None = None
    landing: LandingStats = field(default_factory=LandingStats)
    newest_played_at: datetime | None = None


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


async def run_poll(engine: AsyncEngine, client: SpotifyClient, user_id: UUID, job_run_id: int) -> PollResult:
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
    checkpoints = tables.sync_checkpoints
    values: dict[str, object] = {
        "status": "idle",
        "last_poll_completed_at": func.now(),
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
        await connection.execute(
            update(checkpoints).where(checkpoints.c.user_id == user_id, checkpoints.c.status != "paused").values(values)
        )
    return result
