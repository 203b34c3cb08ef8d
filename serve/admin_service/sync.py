"""Sync state and the control actions on it.

Control actions (pause, resume, initial sync, resync) only change rows the collector reads
(`app.users.status`, `app.sync_checkpoints`): the collector claims users whose `next_poll_at` has passed
and whose status allows it, so an action takes effect on its next cycle without any other channel.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.tables import spotify_tokens, sync_checkpoints, users
from serve.admin_service.common import ServiceError, require_user


class SyncState(BaseModel):
    status: str
    initial_sync_started_at: datetime | None = None
    initial_sync_completed_at: datetime | None = None
    initial_sync_earliest_played_at: datetime | None = None
    initial_sync_stop_reason: str | None = None
    last_poll_started_at: datetime | None = None
    last_poll_completed_at: datetime | None = None
    last_poll_latest_played_at: datetime | None = None
    next_poll_at: datetime | None = None
    next_attempt_at: datetime | None = None
    consecutive_errors: int = 0
    error_message: str | None = None
    updated_at: datetime | None = None
    # Adaptive polling: the interval chosen after the last poll, the rate behind it, and why (in words).
    poll_interval_seconds: int | None = None
    plays_per_hour: float | None = None
    poll_reason: str | None = None
    last_poll_new_plays: int | None = None
    window_full_polls: int = 0


class SyncStatusRow(BaseModel):
    user_id: uuid.UUID
    display_name: str | None
    user_status: str
    sync: SyncState


class SyncStatus(BaseModel):
    users: int
    by_status: dict[str, int]
    items: list[SyncStatusRow]


SYNC_COLUMNS = (
    "status",
    "initial_sync_started_at",
    "initial_sync_completed_at",
    "initial_sync_earliest_played_at",
    "initial_sync_stop_reason",
    "last_poll_started_at",
    "last_poll_completed_at",
    "last_poll_latest_played_at",
    "next_poll_at",
    "next_attempt_at",
    "consecutive_errors",
    "error_message",
    "updated_at",
    "poll_interval_seconds",
    "plays_per_hour",
    "poll_reason",
    "last_poll_new_plays",
    "window_full_polls",
)


def sync_state_of(row: Any) -> SyncState | None:
    if row.sync_status is None:
        return None
    return SyncState(**{name: getattr(row, f"sync_{name}") for name in SYNC_COLUMNS})


async def upsert_checkpoint(session: AsyncSession, user_id: uuid.UUID, values: dict[str, Any]) -> None:
    statement = insert(sync_checkpoints).values(user_id=user_id, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=[sync_checkpoints.c.user_id], set_=values))


async def pause_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    row = await require_user(session, user_id)
    if row.status == "disabled":
        raise ServiceError("conflict", "the user is disabled")
    await session.execute(update(users).where(users.c.id == user_id).values(status="paused", updated_at=func.now()))
    await upsert_checkpoint(session, user_id, {"status": "paused", "updated_at": func.now()})


async def resume_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    row = await require_user(session, user_id)
    if row.status == "needs_reauth":
        raise ServiceError("conflict", "the user must reconnect Spotify first (refresh token expired or revoked)")
    if row.status == "disabled":
        raise ServiceError("conflict", "the user is disabled")
    await session.execute(update(users).where(users.c.id == user_id).values(status="active", updated_at=func.now()))
    await upsert_checkpoint(
        session,
        user_id,
        {"status": "idle", "next_poll_at": func.now(), "error_message": None, "updated_at": func.now()},
    )


async def has_spotify_token(session: AsyncSession, user_id: uuid.UUID) -> bool:
    found = await session.execute(select(spotify_tokens.c.user_id).where(spotify_tokens.c.user_id == user_id))
    return found.first() is not None


async def request_initial_sync(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Clear the initial-sync marks: the collector runs an initial sync for users that have none completed."""
    row = await require_user(session, user_id)
    if not await has_spotify_token(session, user_id):
        raise ServiceError("conflict", "the user has not connected Spotify (local users import ZIPs only)")
    if row.status != "active":
        raise ServiceError("conflict", f"the user is {row.status}; resume them first")
    await upsert_checkpoint(
        session,
        user_id,
        {
            "initial_sync_started_at": None,
            "initial_sync_completed_at": None,
            "initial_sync_stop_reason": None,
            "status": "idle",
            "next_poll_at": func.now(),
            "next_attempt_at": None,
            "error_message": None,
            "updated_at": func.now(),
        },
    )


async def request_resync(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Poll now: due immediately, rate-limit wait and error streak cleared."""
    row = await require_user(session, user_id)
    if not await has_spotify_token(session, user_id):
        raise ServiceError("conflict", "the user has not connected Spotify (local users import ZIPs only)")
    if row.status != "active":
        raise ServiceError("conflict", f"the user is {row.status}; resume them first")
    await upsert_checkpoint(
        session,
        user_id,
        {
            "status": "idle",
            "next_poll_at": func.now(),
            "next_attempt_at": None,
            "consecutive_errors": 0,
            "error_message": None,
            "updated_at": func.now(),
        },
    )


async def sync_status(session: AsyncSession, *, limit: int, offset: int) -> SyncStatus:
    counts = await session.execute(
        select(func.coalesce(sync_checkpoints.c.status, "none"), func.count())
        .select_from(users)
        .outerjoin(sync_checkpoints, sync_checkpoints.c.user_id == users.c.id)
        .group_by(sync_checkpoints.c.status)
    )
    by_status = {str(status): int(count) for status, count in counts}
    sync_cols = [sync_checkpoints.c[name].label(f"sync_{name}") for name in SYNC_COLUMNS]
    rows = await session.execute(
        select(users.c.id, users.c.display_name, users.c.status, *sync_cols)
        .select_from(users)
        .join(sync_checkpoints, sync_checkpoints.c.user_id == users.c.id)
        .order_by(users.c.created_at.desc(), users.c.id)
        .limit(limit)
        .offset(offset)
    )
    items = []
    for row in rows:
        state = sync_state_of(row)
        assert state is not None
        items.append(SyncStatusRow(user_id=row.id, display_name=row.display_name, user_status=row.status, sync=state))
    return SyncStatus(users=sum(by_status.values()), by_status=by_status, items=items)
