"""The admin service: every query behind the `/admin` endpoints (the polar pattern: thin router → service).

All SQL is SQLAlchemy Core over `core.tables`, so every value a caller sends is a bound parameter. Free-text
log search escapes LIKE's wildcards (`%`, `_`, `\\`) so that `q` is always matched literally.

Control actions (pause, resume, initial sync, resync) only change rows the collector reads
(`app.users.status`, `app.sync_checkpoints`): the collector claims users whose `next_poll_at` has passed
and whose status allows it, so an action takes effect on its next cycle without any other channel.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Text, and_, cast, delete, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import page_of
from core.settings import Settings
from core.tables import (
    LOG_LEVELS,
    api_plays,
    export_records,
    import_jobs,
    job_runs,
    logs,
    spotify_endpoint_status,
    spotify_tokens,
    sync_checkpoints,
    users,
    worker_heartbeats,
)

# A collector whose heartbeat is older than this is reported as stale.
HEARTBEAT_STALE_AFTER = timedelta(minutes=5)
# Refresh tokens this close to their expiry are flagged in the UI ahead of time.
REFRESH_EXPIRY_WARNING = timedelta(days=14)
# Spotify tokens die this long after the original consent when the row has no explicit expiry.
REFRESH_TOKEN_LIFETIME = timedelta(days=183)


class ServiceError(Exception):
    """Raised by the service; the router maps `kind` to an HTTP error."""

    def __init__(self, kind: Literal["not_found", "conflict", "invalid"], message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# ---------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------


class TokenStatus(BaseModel):
    connected: bool
    state: Literal["none", "ok", "expiring_soon", "expired", "needs_reauth"]
    consented_at: datetime | None = None
    refresh_token_expires_at: datetime | None = None
    access_token_expires_at: datetime | None = None
    scope: str | None = None


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


class ImportJob(BaseModel):
    id: int
    user_id: uuid.UUID
    uploaded_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    status: str
    original_filename: str | None
    origin: str
    file_size_bytes: int
    format_detected: str | None
    records_ingested: int | None
    records_total: int | None
    progress: float | None = Field(description="records_ingested / records_total (0–1) when both are known")
    earliest_played_at: datetime | None
    latest_played_at: datetime | None
    error_message: str | None
    job_run_id: int | None
    user_name: str = Field(description="the user's display name (else Spotify user id, e-mail or id)")
    stats: dict[str, Any] = Field(
        default_factory=dict, description="what the import's job run recorded (records read, new plays, duplicates, …)"
    )
    warehouse: Literal["waiting", "building", "built", "failed"] | None = Field(
        description="after a successful import: the warehouse build that takes its rows in — not started yet, "
        "running, done or failed (the first transform started after the import finished)"
    )


class User(BaseModel):
    id: uuid.UUID
    spotify_user_id: str | None
    display_name: str | None
    email: str | None
    timezone: str
    status: str
    kind: Literal["spotify", "local"]
    created_at: datetime
    updated_at: datetime
    token: TokenStatus
    sync: SyncState | None
    latest_import: ImportJob | None


class JobRun(BaseModel):
    id: int
    job_type: str
    user_id: uuid.UUID | None
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    status: str
    stats: dict[str, Any]
    error_message: str | None
    worker_id: str | None


class UserDetail(User):
    counts: dict[str, int]
    recent_job_runs: list[JobRun]
    recent_import_jobs: list[ImportJob]


class Page[T](BaseModel):
    items: list[T]
    total: int
    limit: int
    offset: int


class SyncStatusRow(BaseModel):
    user_id: uuid.UUID
    display_name: str | None
    user_status: str
    sync: SyncState


class SyncStatus(BaseModel):
    users: int
    by_status: dict[str, int]
    items: list[SyncStatusRow]


class LogEntry(BaseModel):
    id: int
    service: str
    level: str
    timestamp: datetime
    message: str
    context: dict[str, Any] | None


class LogPage(BaseModel):
    items: list[LogEntry]
    limit: int
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page; null at the end")
    newest_id: int | None = Field(description="pass as after_id to tail: only newer entries are returned")


class JobRunSummary(BaseModel):
    job_type: str
    status: str
    runs: int
    avg_duration_seconds: float | None


class Check(BaseModel):
    status: Literal["ok", "warning", "error", "unknown"]
    detail: str


class EndpointStatus(BaseModel):
    client_id: str
    endpoint: str
    available: bool
    status_code: int | None
    detail: str | None
    checked_at: datetime


class Heartbeat(BaseModel):
    worker_id: str
    service: str
    hostname: str
    pid: int
    started_at: datetime
    last_seen_at: datetime
    state: str
    stale: bool


class Diagnostics(BaseModel):
    checked_at: datetime
    database: Check
    database_version: str | None
    spotify: Check
    spotify_configured: bool
    spotify_endpoints: list[EndpointStatus]
    collector: Check
    heartbeats: list[Heartbeat]
    transform: Check
    last_transform: JobRun | None
    upload_dir: Check
    upload_dir_path: str
    upload_dir_bytes: int | None
    disk_free_bytes: int | None
    disk_total_bytes: int | None


class CreatedUser(BaseModel):
    id: uuid.UUID
    display_name: str | None
    timezone: str
    status: str


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def validate_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError, ValueError:
        raise ServiceError("invalid", f"`{name}` is not an IANA time zone (e.g. Europe/Berlin, UTC)") from None
    return name


def escape_like(value: str) -> str:
    """Make `value` match literally inside LIKE/ILIKE with ESCAPE '\\'."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _token_status(row: Any, user_status: str, now: datetime) -> TokenStatus:
    if row.consented_at is None:
        return TokenStatus(connected=False, state="none")
    expires = row.refresh_token_expires_at or (row.consented_at + REFRESH_TOKEN_LIFETIME)
    state: Literal["none", "ok", "expiring_soon", "expired", "needs_reauth"]
    if user_status == "needs_reauth":
        state = "needs_reauth"
    elif expires <= now:
        state = "expired"
    elif expires - now <= REFRESH_EXPIRY_WARNING:
        state = "expiring_soon"
    else:
        state = "ok"
    return TokenStatus(
        connected=True,
        state=state,
        consented_at=row.consented_at,
        refresh_token_expires_at=expires,
        access_token_expires_at=row.access_token_expires_at,
        scope=row.scope,
    )


_SYNC_COLUMNS = (
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


def _sync_state(row: Any) -> SyncState | None:
    if row.sync_status is None:
        return None
    return SyncState(**{name: getattr(row, f"sync_{name}") for name in _SYNC_COLUMNS})


def _import_job(row: Any) -> ImportJob:
    progress = None
    if row.records_total:
        progress = min(1.0, (row.records_ingested or 0) / row.records_total)
    if row.status == "success":
        progress = 1.0
    return ImportJob(
        id=row.id,
        user_id=row.user_id,
        uploaded_at=row.uploaded_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        original_filename=row.original_filename,
        origin=row.origin,
        file_size_bytes=row.file_size_bytes,
        format_detected=row.format_detected,
        records_ingested=row.records_ingested,
        records_total=row.records_total,
        progress=progress,
        earliest_played_at=row.earliest_played_at,
        latest_played_at=row.latest_played_at,
        error_message=row.error_message,
        job_run_id=row.job_run_id,
        user_name=row.user_name,
        stats=dict(row.run_stats or {}),
        warehouse=_WAREHOUSE_STATES.get(row.warehouse_status or "waiting") if row.status == "success" else None,
    )


# A transform's job-run status → what it means for an import's rows.
_WAREHOUSE_STATES: dict[str, Literal["waiting", "building", "built", "failed"]] = {
    "waiting": "waiting",
    "running": "building",
    "success": "built",
    "error": "failed",
}


def _job_run(row: Any) -> JobRun:
    duration = (row.finished_at - row.started_at).total_seconds() if row.finished_at is not None else None
    return JobRun(
        id=row.id,
        job_type=row.job_type,
        user_id=row.user_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_seconds=duration,
        status=row.status,
        stats=dict(row.stats or {}),
        error_message=row.error_message,
        worker_id=row.worker_id,
    )


def _import_job_context() -> list[Any]:
    """Per import job: its user's name, its job run's stats, and the first transform started after it finished
    (the build that takes its rows into the warehouse). Correlated subqueries on their own aliases, so every
    query that lists import jobs (alone or beside users) gets the same columns."""
    owner, run, build = users.alias("owner"), job_runs.alias("import_run"), job_runs.alias("build")
    name = func.coalesce(owner.c.display_name, owner.c.spotify_user_id, owner.c.email, cast(owner.c.id, Text))
    return [
        select(name).where(owner.c.id == import_jobs.c.user_id).scalar_subquery().label("user_name"),
        select(run.c.stats).where(run.c.id == import_jobs.c.job_run_id).scalar_subquery().label("run_stats"),
        select(build.c.status)
        .where(build.c.job_type == "transform", build.c.started_at >= import_jobs.c.finished_at)
        .order_by(build.c.started_at)
        .limit(1)
        .scalar_subquery()
        .label("warehouse_status"),
    ]


_IMPORT_COLUMNS = [
    import_jobs.c.id,
    import_jobs.c.user_id,
    import_jobs.c.uploaded_at,
    import_jobs.c.started_at,
    import_jobs.c.finished_at,
    import_jobs.c.status,
    import_jobs.c.original_filename,
    import_jobs.c.origin,
    import_jobs.c.file_size_bytes,
    import_jobs.c.format_detected,
    import_jobs.c.records_ingested,
    import_jobs.c.records_total,
    import_jobs.c.earliest_played_at,
    import_jobs.c.latest_played_at,
    import_jobs.c.error_message,
    import_jobs.c.job_run_id,
    *_import_job_context(),
]


def _user_query() -> Any:
    latest_import = (
        select(*_IMPORT_COLUMNS)
        .where(import_jobs.c.user_id == users.c.id)
        .order_by(import_jobs.c.uploaded_at.desc(), import_jobs.c.id.desc())
        .limit(1)
        .lateral("latest_import")
    )
    sync_cols = [sync_checkpoints.c[name].label(f"sync_{name}") for name in _SYNC_COLUMNS]
    import_cols = [column.label(f"imp_{column.name}") for column in latest_import.c]
    return (
        select(
            users,
            spotify_tokens.c.consented_at,
            spotify_tokens.c.refresh_token_expires_at,
            spotify_tokens.c.access_token_expires_at,
            spotify_tokens.c.scope,
            *sync_cols,
            *import_cols,
        )
        .select_from(users)
        .outerjoin(spotify_tokens, spotify_tokens.c.user_id == users.c.id)
        .outerjoin(sync_checkpoints, sync_checkpoints.c.user_id == users.c.id)
        .outerjoin(latest_import, literal(True))
    )


@dataclass(frozen=True, slots=True)
class _Prefixed:
    row: Any
    prefix: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, f"{self.prefix}{name}")


def _user(row: Any, now: datetime) -> User:
    latest = _import_job(_Prefixed(row, "imp_")) if row.imp_id is not None else None
    return User(
        id=row.id,
        spotify_user_id=row.spotify_user_id,
        display_name=row.display_name,
        email=row.email,
        timezone=row.timezone,
        status=row.status,
        kind="spotify" if row.spotify_user_id else "local",
        created_at=row.created_at,
        updated_at=row.updated_at,
        token=_token_status(row, row.status, now),
        sync=_sync_state(row),
        latest_import=latest,
    )


async def _now(session: AsyncSession) -> datetime:
    value: datetime = (await session.execute(select(func.now()))).scalar_one()
    return value


# ---------------------------------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------------------------------


async def list_users(
    session: AsyncSession, *, limit: int, offset: int, status: str | None = None, q: str | None = None
) -> Page[User]:
    matches_q = None
    if q:
        pattern = f"%{escape_like(q)}%"
        matches_q = or_(
            users.c.display_name.ilike(pattern, escape="\\"),
            users.c.email.ilike(pattern, escape="\\"),
            users.c.spotify_user_id.ilike(pattern, escape="\\"),
        )
    total, rows = await page_of(
        session,
        _user_query(),
        users,
        [users.c.status == status if status else None, matches_q],
        order_by=[users.c.created_at.desc(), users.c.id],
        limit=limit,
        offset=offset,
    )
    now = await _now(session)
    return Page[User](items=[_user(row, now) for row in rows], total=total, limit=limit, offset=offset)


async def _require_user(session: AsyncSession, user_id: uuid.UUID) -> Any:
    row = (await session.execute(select(users).where(users.c.id == user_id))).first()
    if row is None:
        raise ServiceError("not_found", f"no user with id {user_id}")
    return row


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> UserDetail:
    row = (await session.execute(_user_query().where(users.c.id == user_id))).first()
    if row is None:
        raise ServiceError("not_found", f"no user with id {user_id}")
    now = await _now(session)
    base = _user(row, now)
    api_count = (
        await session.execute(select(func.count()).select_from(api_plays).where(api_plays.c.user_id == user_id))
    ).scalar_one()
    export_count = (
        await session.execute(
            select(func.count()).select_from(export_records).where(export_records.c.user_id == user_id)
        )
    ).scalar_one()
    runs = await list_job_runs(session, user_id=user_id, limit=10, offset=0)
    imports = await list_import_jobs(session, user_id=user_id, limit=10, offset=0)
    return UserDetail(
        **base.model_dump(),
        counts={"api_plays": api_count, "export_records": export_count},
        recent_job_runs=runs.items,
        recent_import_jobs=imports.items,
    )


async def create_local_user(session: AsyncSession, *, display_name: str, timezone: str) -> CreatedUser:
    validate_timezone(timezone)
    row = (
        await session.execute(
            users.insert()
            .values(display_name=display_name, timezone=timezone)
            .returning(users.c.id, users.c.display_name, users.c.timezone, users.c.status)
        )
    ).one()
    await session.execute(insert(sync_checkpoints).values(user_id=row.id).on_conflict_do_nothing())
    return CreatedUser(id=row.id, display_name=row.display_name, timezone=row.timezone, status=row.status)


async def set_timezone(session: AsyncSession, user_id: uuid.UUID, timezone: str) -> None:
    validate_timezone(timezone)
    await _require_user(session, user_id)
    await session.execute(update(users).where(users.c.id == user_id).values(timezone=timezone, updated_at=func.now()))


async def delete_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Delete the user; every app and raw row of theirs goes with it (ON DELETE CASCADE)."""
    result = await session.execute(delete(users).where(users.c.id == user_id).returning(users.c.id))
    if result.first() is None:
        raise ServiceError("not_found", f"no user with id {user_id}")


async def _upsert_checkpoint(session: AsyncSession, user_id: uuid.UUID, values: dict[str, Any]) -> None:
    statement = insert(sync_checkpoints).values(user_id=user_id, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=[sync_checkpoints.c.user_id], set_=values))


async def pause_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    row = await _require_user(session, user_id)
    if row.status == "disabled":
        raise ServiceError("conflict", "the user is disabled")
    await session.execute(update(users).where(users.c.id == user_id).values(status="paused", updated_at=func.now()))
    await _upsert_checkpoint(session, user_id, {"status": "paused", "updated_at": func.now()})


async def resume_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    row = await _require_user(session, user_id)
    if row.status == "needs_reauth":
        raise ServiceError("conflict", "the user must reconnect Spotify first (refresh token expired or revoked)")
    if row.status == "disabled":
        raise ServiceError("conflict", "the user is disabled")
    await session.execute(update(users).where(users.c.id == user_id).values(status="active", updated_at=func.now()))
    await _upsert_checkpoint(
        session,
        user_id,
        {"status": "idle", "next_poll_at": func.now(), "error_message": None, "updated_at": func.now()},
    )


async def _has_spotify_token(session: AsyncSession, user_id: uuid.UUID) -> bool:
    found = await session.execute(select(spotify_tokens.c.user_id).where(spotify_tokens.c.user_id == user_id))
    return found.first() is not None


async def request_initial_sync(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Clear the initial-sync marks: the collector runs an initial sync for users that have none completed."""
    row = await _require_user(session, user_id)
    if not await _has_spotify_token(session, user_id):
        raise ServiceError("conflict", "the user has not connected Spotify (local users import ZIPs only)")
    if row.status != "active":
        raise ServiceError("conflict", f"the user is {row.status}; resume them first")
    await _upsert_checkpoint(
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
    row = await _require_user(session, user_id)
    if not await _has_spotify_token(session, user_id):
        raise ServiceError("conflict", "the user has not connected Spotify (local users import ZIPs only)")
    if row.status != "active":
        raise ServiceError("conflict", f"the user is {row.status}; resume them first")
    await _upsert_checkpoint(
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
    sync_cols = [sync_checkpoints.c[name].label(f"sync_{name}") for name in _SYNC_COLUMNS]
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
        state = _sync_state(row)
        assert state is not None
        items.append(SyncStatusRow(user_id=row.id, display_name=row.display_name, user_status=row.status, sync=state))
    return SyncStatus(users=sum(by_status.values()), by_status=by_status, items=items)


# ---------------------------------------------------------------------------------------------------
# Jobs and imports
# ---------------------------------------------------------------------------------------------------


async def list_job_runs(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    user_id: uuid.UUID | None = None,
    job_type: str | None = None,
    status: str | None = None,
) -> Page[JobRun]:
    total, rows = await page_of(
        session,
        select(job_runs),
        job_runs,
        [
            job_runs.c.user_id == user_id if user_id is not None else None,
            job_runs.c.job_type == job_type if job_type else None,
            job_runs.c.status == status if status else None,
        ],
        order_by=[job_runs.c.started_at.desc(), job_runs.c.id.desc()],
        limit=limit,
        offset=offset,
    )
    return Page[JobRun](items=[_job_run(row) for row in rows], total=total, limit=limit, offset=offset)


async def get_job_run(session: AsyncSession, job_run_id: int) -> JobRun:
    row = (await session.execute(select(job_runs).where(job_runs.c.id == job_run_id))).first()
    if row is None:
        raise ServiceError("not_found", f"no job run with id {job_run_id}")
    return _job_run(row)


async def job_run_summary(session: AsyncSession, *, since: datetime) -> list[JobRunSummary]:
    duration = func.extract("epoch", job_runs.c.finished_at - job_runs.c.started_at)
    rows = await session.execute(
        select(job_runs.c.job_type, job_runs.c.status, func.count(), func.avg(duration))
        .where(job_runs.c.started_at >= since)
        .group_by(job_runs.c.job_type, job_runs.c.status)
        .order_by(job_runs.c.job_type, job_runs.c.status)
    )
    return [
        JobRunSummary(
            job_type=row[0],
            status=row[1],
            runs=row[2],
            avg_duration_seconds=float(row[3]) if row[3] is not None else None,
        )
        for row in rows
    ]


async def list_import_jobs(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    user_id: uuid.UUID | None = None,
    status: str | None = None,
) -> Page[ImportJob]:
    total, rows = await page_of(
        session,
        select(*_IMPORT_COLUMNS),
        import_jobs,
        [
            import_jobs.c.user_id == user_id if user_id is not None else None,
            import_jobs.c.status == status if status else None,
        ],
        order_by=[import_jobs.c.uploaded_at.desc(), import_jobs.c.id.desc()],
        limit=limit,
        offset=offset,
    )
    return Page[ImportJob](items=[_import_job(row) for row in rows], total=total, limit=limit, offset=offset)


async def get_import_job(session: AsyncSession, import_job_id: int) -> ImportJob:
    row = (await session.execute(select(*_IMPORT_COLUMNS).where(import_jobs.c.id == import_job_id))).first()
    if row is None:
        raise ServiceError("not_found", f"no import job with id {import_job_id}")
    return _import_job(row)


# ---------------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------------


async def search_logs(
    session: AsyncSession,
    *,
    limit: int,
    service: str | None = None,
    level: str | None = None,
    q: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
    user_id: uuid.UUID | None = None,
) -> LogPage:
    """Newest first. `level` is a minimum severity (`warning` returns warning and error).

    `q` matches the message or the JSON context, case-insensitively and literally (bound parameter,
    LIKE wildcards escaped). `before_id` pages back; `after_id` tails (only newer rows).
    """
    conditions: list[ColumnElement[bool]] = []
    if service:
        conditions.append(logs.c.service == service)
    if level:
        conditions.append(logs.c.level.in_(LOG_LEVELS[LOG_LEVELS.index(level) :]))
    if q:
        pattern = f"%{escape_like(q)}%"
        conditions.append(
            or_(
                logs.c.message.ilike(pattern, escape="\\"),
                cast(logs.c.context, Text).ilike(pattern, escape="\\"),
            )
        )
    if since is not None:
        conditions.append(logs.c.timestamp >= since)
    if until is not None:
        conditions.append(logs.c.timestamp < until)
    if before_id is not None:
        conditions.append(logs.c.id < before_id)
    if after_id is not None:
        conditions.append(logs.c.id > after_id)
    if user_id is not None:
        conditions.append(logs.c.context.contains({"user_id": str(user_id)}))
    where = and_(*conditions) if conditions else literal(True)
    rows = list(await session.execute(select(logs).where(where).order_by(logs.c.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        LogEntry(
            id=row.id,
            service=row.service,
            level=row.level,
            timestamp=row.timestamp,
            message=row.message,
            context=row.context,
        )
        for row in rows
    ]
    newest = items[0].id if items else after_id
    return LogPage(
        items=items, limit=limit, next_before_id=items[-1].id if (items and more) else None, newest_id=newest
    )


# ---------------------------------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------------------------------


def _directory_bytes(path: Path) -> int:
    total = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file() and not entry.is_symlink():
                total += entry.stat().st_size
        except OSError:
            continue
    return total


def _disk_usage(path: Path) -> tuple[int | None, int | None, int | None]:
    if not path.exists():
        return None, None, None
    usage = shutil.disk_usage(path)
    return _directory_bytes(path), usage.free, usage.total


async def probe_spotify(settings: Settings, *, timeout_seconds: float = 2.0) -> Check:
    """Is Spotify's Web API reachable from here? Any HTTP answer (401 without a token) counts."""
    url = str(settings.spotify_api_base_url).rstrip("/") + "/markets"
    try:
        async with httpx.AsyncClient(timeout=timeout_seconds) as client:
            response = await client.get(url)
    except httpx.HTTPError as error:
        return Check(status="error", detail=f"unreachable: {type(error).__name__}")
    return Check(status="ok", detail=f"reachable (HTTP {response.status_code})")


async def diagnostics(session: AsyncSession, settings: Settings, *, probe: bool) -> Diagnostics:
    now = await _now(session)
    version: str = (await session.execute(text("SHOW server_version"))).scalar_one()
    database = Check(status="ok", detail=f"connected, PostgreSQL {version}")

    endpoint_rows = await session.execute(
        select(spotify_endpoint_status).order_by(
            spotify_endpoint_status.c.client_id, spotify_endpoint_status.c.endpoint
        )
    )
    endpoints = [
        EndpointStatus(
            client_id=row.client_id,
            endpoint=row.endpoint,
            available=row.available,
            status_code=row.status_code,
            detail=row.detail,
            checked_at=row.checked_at,
        )
        for row in endpoint_rows
    ]
    restricted = [item.endpoint for item in endpoints if not item.available]
    if probe:
        spotify = await probe_spotify(settings)
    elif not settings.spotify_configured:
        spotify = Check(status="unknown", detail="no Spotify app configured (ZIP import works without one)")
    else:
        spotify = Check(status="unknown", detail="not probed (pass probe=true)")
    if restricted and spotify.status == "ok":
        spotify = Check(status="warning", detail=f"{spotify.detail}; unavailable to this app: {', '.join(restricted)}")
    elif restricted:
        spotify = Check(status=spotify.status, detail=f"{spotify.detail}; unavailable: {', '.join(restricted)}")

    beat_rows = await session.execute(select(worker_heartbeats).order_by(worker_heartbeats.c.last_seen_at.desc()))
    heartbeats = [
        Heartbeat(
            worker_id=row.worker_id,
            service=row.service,
            hostname=row.hostname,
            pid=row.pid,
            started_at=row.started_at,
            last_seen_at=row.last_seen_at,
            state=row.state,
            stale=now - row.last_seen_at > HEARTBEAT_STALE_AFTER,
        )
        for row in beat_rows
    ]
    collectors = [beat for beat in heartbeats if beat.service == "collector"]
    live = [beat for beat in collectors if not beat.stale and beat.state != "stopped"]
    if live:
        collector = Check(
            status="ok", detail=f"{len(live)} collector(s) alive, last seen {live[0].last_seen_at:%Y-%m-%d %H:%M:%S}Z"
        )
    elif collectors:
        collector = Check(
            status="error", detail=f"no live collector; last seen {collectors[0].last_seen_at:%Y-%m-%d %H:%M:%S}Z"
        )
    else:
        collector = Check(status="warning", detail="no collector has ever reported")

    last = (
        await session.execute(
            select(job_runs)
            .where(job_runs.c.job_type == "transform")
            .order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc())
            .limit(1)
        )
    ).first()
    last_success = (
        await session.execute(
            select(func.max(job_runs.c.finished_at)).where(
                job_runs.c.job_type == "transform", job_runs.c.status == "success"
            )
        )
    ).scalar_one()
    last_transform = _job_run(last) if last is not None else None
    if last_transform is None:
        transform = Check(status="warning", detail="no transform has run yet")
    elif last_transform.status == "error":
        transform = Check(status="error", detail=f"last transform failed: {last_transform.error_message or 'error'}")
    elif last_transform.status == "running":
        transform = Check(status="ok", detail="a transform is running now")
    elif last_transform.status in ("interrupted", "abandoned"):
        transform = Check(
            status="warning",
            detail=f"last transform {last_transform.status} (stopped before it finished); the next one redoes its work",
        )
    else:
        transform = Check(
            status="ok", detail=f"last success {last_success:%Y-%m-%d %H:%M:%S}Z" if last_success else "ran"
        )

    upload_path = settings.effective_upload_dir
    used, free, total = await asyncio.to_thread(_disk_usage, upload_path)
    if used is None:
        upload = Check(status="warning", detail="upload folder does not exist yet (created on the first upload)")
    elif free is not None and total and free / total < 0.05:
        upload = Check(status="error", detail="less than 5% disk space left")
    else:
        upload = Check(status="ok", detail="writable folder present")

    return Diagnostics(
        checked_at=now if now.tzinfo else now.replace(tzinfo=UTC),
        database=database,
        database_version=str(version),
        spotify=spotify,
        spotify_configured=settings.spotify_configured,
        spotify_endpoints=endpoints,
        collector=collector,
        heartbeats=heartbeats,
        transform=transform,
        last_transform=last_transform,
        upload_dir=upload,
        upload_dir_path=str(upload_path),
        upload_dir_bytes=used,
        disk_free_bytes=free,
        disk_total_bytes=total,
    )
