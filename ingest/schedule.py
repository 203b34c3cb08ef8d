"""Who is due, claimed so that several collector processes never do the same work twice.

A claim is a short transaction: `SELECT … FOR UPDATE OF sync_checkpoints SKIP LOCKED` picks due users that
no other process is claiming right now, and the same statement moves them forward (`next_poll_at = now +
the user's interval` for polls, `status = 'initial_sync'` plus a lease for initial syncs) before committing.
Another process then finds nothing due for that user until then, so each user is polled once per interval
however many collectors run; a finished poll sets the next one from the user's listening (`ingest.cadence`).
A process that dies mid-job loses only its lease: the user is due again after one interval (polls) or when
the lease expires (initial sync). Landing is idempotent, so a retaken job adds nothing twice.

`now` is always passed in (the collector's clock), never the database's `now()`: the collector's simulation
runs days of polling in virtual time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import func, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables

_ELIGIBLE = """
    sc.status NOT IN ('paused', 'needs_reauth')
    AND u.status = 'active'
    AND (sc.next_attempt_at IS NULL OR sc.next_attempt_at <= :now)
"""

_CLAIM_INITIAL_SYNC = text(
    f"""
    WITH picked AS (
        SELECT sc.user_id
        FROM app.sync_checkpoints sc
        JOIN app.users u ON u.id = sc.user_id
        JOIN app.spotify_tokens t ON t.user_id = sc.user_id
        WHERE {_ELIGIBLE}
          AND sc.initial_sync_completed_at IS NULL
          AND (sc.status <> 'initial_sync' OR sc.updated_at < :now - make_interval(secs => :lease))
        ORDER BY sc.updated_at
        LIMIT :limit
        FOR UPDATE OF sc SKIP LOCKED
    )
    UPDATE app.sync_checkpoints sc
    SET status = 'initial_sync', initial_sync_started_at = :now, initial_sync_stop_reason = NULL,
        error_message = NULL, updated_at = :now
    FROM picked
    WHERE sc.user_id = picked.user_id
    RETURNING sc.user_id
    """
)

_CLAIM_POLLS = text(
    f"""
    WITH picked AS (
        SELECT sc.user_id
        FROM app.sync_checkpoints sc
        JOIN app.users u ON u.id = sc.user_id
        JOIN app.spotify_tokens t ON t.user_id = sc.user_id
        WHERE {_ELIGIBLE}
          AND sc.next_poll_at <= :now
          AND (:initial_sync_disabled OR sc.initial_sync_completed_at IS NOT NULL)
        ORDER BY sc.next_poll_at
        LIMIT :limit
        FOR UPDATE OF sc SKIP LOCKED
    )
    UPDATE app.sync_checkpoints sc
    SET status = 'polling',
        next_poll_at = :now + make_interval(secs => coalesce(sc.poll_interval_seconds, :interval)),
        last_poll_started_at = :now, updated_at = :now
    FROM picked
    WHERE sc.user_id = picked.user_id
    RETURNING sc.user_id
    """
)

_ENSURE_CHECKPOINTS = text(
    """
    INSERT INTO app.sync_checkpoints (user_id)
    SELECT t.user_id FROM app.spotify_tokens t
    ON CONFLICT (user_id) DO NOTHING
    """
)


async def ensure_checkpoints(engine: AsyncEngine) -> None:
    """Every connected user has a checkpoint row (users connected by other paths than /auth/callback)."""
    async with engine.begin() as connection:
        await connection.execute(_ENSURE_CHECKPOINTS)


async def claim_initial_syncs(engine: AsyncEngine, *, now: datetime, limit: int, lease_seconds: float) -> list[UUID]:
    async with engine.begin() as connection:
        rows = await connection.execute(_CLAIM_INITIAL_SYNC, {"now": now, "limit": limit, "lease": lease_seconds})
        return [row.user_id for row in rows]


async def claim_polls(
    engine: AsyncEngine, *, now: datetime, limit: int, interval_seconds: float, initial_sync_enabled: bool
) -> list[UUID]:
    """Due users, each moved one interval ahead (their own, else `interval_seconds`) as the claim's lease."""
    async with engine.begin() as connection:
        rows = await connection.execute(
            _CLAIM_POLLS,
            {
                "now": now,
                "limit": limit,
                "interval": interval_seconds,
                "initial_sync_disabled": not initial_sync_enabled,
            },
        )
        return [row.user_id for row in rows]


async def next_due(engine: AsyncEngine) -> datetime | None:
    """The earliest moment any connected, active user is due (for a run loop that sleeps until then)."""
    async with engine.connect() as connection:
        due: datetime | None = await connection.scalar(
            text(
                """
                SELECT min(greatest(sc.next_poll_at, coalesce(sc.next_attempt_at, sc.next_poll_at)))
                FROM app.sync_checkpoints sc JOIN app.users u ON u.id = sc.user_id
                JOIN app.spotify_tokens t ON t.user_id = sc.user_id
                WHERE sc.status NOT IN ('paused', 'needs_reauth') AND u.status = 'active'
                """
            )
        )
    return due


async def record_rate_limited(
    engine: AsyncEngine, user_id: UUID, retry_after: float, detail: str, *, now: datetime | None = None
) -> datetime:
    """A long Retry-After / quota / no budget left: not slept, but recorded as the user's next allowed attempt."""
    next_attempt = (now or datetime.now(UTC)) + timedelta(seconds=retry_after)
    checkpoints = tables.sync_checkpoints
    async with engine.begin() as connection:
        await connection.execute(
            update(checkpoints)
            .where(checkpoints.c.user_id == user_id)
            .values(
                status="rate_limited",
                next_attempt_at=next_attempt,
                error_message=f"{detail}; next attempt at {next_attempt:%Y-%m-%d %H:%M:%S} UTC"[:1000],
                updated_at=func.now(),
            )
        )
    return next_attempt


async def record_error(
    engine: AsyncEngine, user_id: UUID, detail: str, *, max_backoff_seconds: float, now: datetime | None = None
) -> int:
    """A failed job: status `error`, and the next attempt backs off exponentially (30 s, 60 s, … capped).
    Returns the number of failures in a row."""
    checkpoints = tables.sync_checkpoints
    async with engine.begin() as connection:
        errors = await connection.scalar(
            update(checkpoints)
            .where(checkpoints.c.user_id == user_id)
            .values(consecutive_errors=checkpoints.c.consecutive_errors + 1)
            .returning(checkpoints.c.consecutive_errors)
        )
        backoff = min(max_backoff_seconds, 30.0 * 2 ** max(0, int(errors or 1) - 1))
        await connection.execute(
            update(checkpoints)
            .where(checkpoints.c.user_id == user_id, checkpoints.c.status != "needs_reauth")
            .values(
                status="error",
                error_message=detail[:1000],
                next_attempt_at=(now or datetime.now(UTC)) + timedelta(seconds=backoff),
                updated_at=func.now(),
            )
        )
    return int(errors or 0)


async def release(
    engine: AsyncEngine, user_id: UUID, *, initial_sync: bool, at: datetime | None = None, reason: str | None = None
) -> None:
    """Give a claimed user back untouched: due again right away (the process is stopping), or at `at` (the
    budget had no room), with `reason` shown as the user's status."""
    checkpoints = tables.sync_checkpoints
    values: dict[str, object] = {"status": "idle", "updated_at": func.now()}
    if not initial_sync:
        values["next_poll_at"] = at or func.now()
    if reason is not None:
        values["poll_reason"] = reason[:1000]
    async with engine.begin() as connection:
        await connection.execute(
            update(checkpoints)
            .where(checkpoints.c.user_id == user_id, checkpoints.c.status.in_(("polling", "initial_sync")))
            .values(values)
        )
