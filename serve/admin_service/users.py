"""Users: who they are, their Spotify token's health, their sync state and latest import, and their lifecycle."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import page_of
from core.tables import api_plays, export_records, import_jobs, spotify_tokens, sync_checkpoints, users
from serve import user_deletion
from serve.admin_service.common import Page, ServiceError, db_now, escape_like, require_user, validate_timezone
from serve.admin_service.imports import IMPORT_COLUMNS, ImportJob, import_job_of, list_import_jobs
from serve.admin_service.jobs import JobRun, list_job_runs
from serve.admin_service.sync import SYNC_COLUMNS, SyncState, sync_state_of

# Refresh tokens this close to their expiry are flagged in the UI ahead of time.
REFRESH_EXPIRY_WARNING = timedelta(days=14)
# Spotify tokens die this long after the original consent when the row has no explicit expiry.
REFRESH_TOKEN_LIFETIME = timedelta(days=183)


class TokenStatus(BaseModel):
    connected: bool
    state: Literal["none", "ok", "expiring_soon", "expired", "needs_reauth"]
    consented_at: datetime | None = None
    refresh_token_expires_at: datetime | None = None
    access_token_expires_at: datetime | None = None
    scope: str | None = None


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


class UserDetail(User):
    counts: dict[str, int]
    recent_job_runs: list[JobRun]
    recent_import_jobs: list[ImportJob]


class CreatedUser(BaseModel):
    id: uuid.UUID
    display_name: str | None
    timezone: str
    status: str


def token_status(row: Any, user_status: str, now: datetime) -> TokenStatus:
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


def user_query() -> Any:
    latest_import = (
        select(*IMPORT_COLUMNS)
        .where(import_jobs.c.user_id == users.c.id)
        .order_by(import_jobs.c.uploaded_at.desc(), import_jobs.c.id.desc())
        .limit(1)
        .lateral("latest_import")
    )
    sync_cols = [sync_checkpoints.c[name].label(f"sync_{name}") for name in SYNC_COLUMNS]
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


def user_of(row: Any, now: datetime) -> User:
    latest = import_job_of(_Prefixed(row, "imp_")) if row.imp_id is not None else None
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
        token=token_status(row, row.status, now),
        sync=sync_state_of(row),
        latest_import=latest,
    )


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
        user_query(),
        users,
        [users.c.status == status if status else None, matches_q],
        order_by=[users.c.created_at.desc(), users.c.id],
        limit=limit,
        offset=offset,
    )
    now = await db_now(session)
    return Page[User](items=[user_of(row, now) for row in rows], total=total, limit=limit, offset=offset)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> UserDetail:
    row = (await session.execute(user_query().where(users.c.id == user_id))).first()
    if row is None:
        raise ServiceError("not_found", f"no user with id {user_id}")
    now = await db_now(session)
    base = user_of(row, now)
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
    await require_user(session, user_id)
    await session.execute(update(users).where(users.c.id == user_id).values(timezone=timezone, updated_at=func.now()))


async def delete_user(session: AsyncSession, user_id: uuid.UUID, *, upload_dir: Path) -> user_deletion.DeletedUser:
    """Delete the user and every row of theirs in every schema (serve.user_deletion); remove the returned files
    after the transaction committed."""
    if (deleted := await user_deletion.delete_user(session, user_id, upload_dir=upload_dir)) is None:
        raise ServiceError("not_found", f"no user with id {user_id}")
    return deleted
