"""Import jobs: an upload's progress, its owner's name, its run's stats and the warehouse build after it; the preview
step of an upload (confirm or discard a previewed job, issue 21)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Text, case, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import page_of
from core.tables import import_jobs, job_runs, users
from serve.admin_service.common import Page, ServiceError

type WarehouseState = Literal["waiting", "building", "built", "failed", "left_out"]


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
    preview: dict[str, Any] | None = Field(
        default=None,
        description="status `previewed` (and after): what importing the file does — formats found, records per "
        "file, date range, new vs already known per source, skipped and why (as `spotify-mcp import --dry-run "
        "--json` prints it)",
    )
    user_name: str = Field(description="the user's display name (else Spotify user id, e-mail or id)")
    stats: dict[str, Any] = Field(
        default_factory=dict, description="what the import's job run recorded (records read, new plays, duplicates, …)"
    )
    warehouse: WarehouseState | None = Field(
        description="after a successful import: the warehouse build that takes its rows in — not started yet, "
        "running, done or failed (the first transform started after the import finished); `left_out` when that "
        "build left this user out because their data fails it (the job run says which model or test, and why)"
    )


def import_job_of(row: Any) -> ImportJob:
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
        preview=row.preview,
        user_name=row.user_name,
        stats=dict(row.run_stats or {}),
        warehouse=WAREHOUSE_STATES.get(row.warehouse_status or "waiting") if row.status == "success" else None,
    )


# A transform's job-run status → what it means for an import's rows.
WAREHOUSE_STATES: dict[str, WarehouseState] = {
    "waiting": "waiting",
    "running": "building",
    "success": "built",
    "partial": "built",  # built for everyone but the users it names; this user was not one of them
    "left_out": "left_out",  # a partial build that names this user (transform.isolation)
    "error": "failed",
}


def import_job_context() -> list[Any]:
    """Per import job: its user's name, its job run's stats, and the first transform started after it finished
    (the build that takes its rows into the warehouse). Correlated subqueries on their own aliases, so every
    query that lists import jobs (alone or beside users) gets the same columns."""
    owner, run, build = users.alias("owner"), job_runs.alias("import_run"), job_runs.alias("build")
    name = func.coalesce(owner.c.display_name, owner.c.spotify_user_id, owner.c.email, cast(owner.c.id, Text))
    return [
        select(name).where(owner.c.id == import_jobs.c.user_id).scalar_subquery().label("user_name"),
        select(run.c.stats).where(run.c.id == import_jobs.c.job_run_id).scalar_subquery().label("run_stats"),
        select(
            case(
                (
                    build.c.stats["quarantine"].op("@>")(
                        func.jsonb_build_array(func.jsonb_build_object("user_id", cast(import_jobs.c.user_id, Text)))
                    ),
                    literal("left_out"),
                ),
                else_=build.c.status,
            )
        )
        .where(build.c.job_type == "transform", build.c.started_at >= import_jobs.c.finished_at)
        .order_by(build.c.started_at)
        .limit(1)
        .scalar_subquery()
        .label("warehouse_status"),
    ]


IMPORT_COLUMNS = [
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
    import_jobs.c.preview,
    *import_job_context(),
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
        select(*IMPORT_COLUMNS),
        import_jobs,
        [
            import_jobs.c.user_id == user_id if user_id is not None else None,
            import_jobs.c.status == status if status else None,
        ],
        order_by=[import_jobs.c.uploaded_at.desc(), import_jobs.c.id.desc()],
        limit=limit,
        offset=offset,
    )
    return Page[ImportJob](items=[import_job_of(row) for row in rows], total=total, limit=limit, offset=offset)


async def get_import_job(session: AsyncSession, import_job_id: int) -> ImportJob:
    row = (await session.execute(select(*IMPORT_COLUMNS).where(import_jobs.c.id == import_job_id))).first()
    if row is None:
        raise ServiceError("not_found", f"no import job with id {import_job_id}")
    return import_job_of(row)


async def _refuse(session: AsyncSession, import_job_id: int, action: str) -> ServiceError:
    """Why `action` cannot apply to this job: it does not exist, or its status does not allow it."""
    status = await session.scalar(select(import_jobs.c.status).where(import_jobs.c.id == import_job_id))
    if status is None:
        return ServiceError("not_found", f"no import job with id {import_job_id}")
    why = {
        "preview": "its preview is not ready yet (the collector reads the file); try again in a moment",
        "discarded": "it was discarded and its file deleted; upload the file again",
    }.get(status, "it was not uploaded for a preview, or its preview was already answered")
    return ServiceError("conflict", f"cannot {action} import job {import_job_id} (status `{status}`): {why}")


async def confirm_import_job(session: AsyncSession, import_job_id: int) -> None:
    """A previewed job becomes `pending`: the collector imports it as any upload (the caller commits and wakes it)."""
    confirmed = await session.scalar(
        update(import_jobs)
        .where(import_jobs.c.id == import_job_id, import_jobs.c.status == "previewed")
        .values(status="pending", started_at=None, finished_at=None, heartbeat_at=None)
        .returning(import_jobs.c.id)
    )
    if confirmed is None:
        raise await _refuse(session, import_job_id, "import")


async def discard_import_job(session: AsyncSession, import_job_id: int) -> str:
    """A job waiting for or showing its preview ends `discarded`; returns its stored file's path (the caller deletes
    it after committing)."""
    path = await session.scalar(
        update(import_jobs)
        .where(import_jobs.c.id == import_job_id, import_jobs.c.status.in_(("preview", "previewed")))
        .values(status="discarded", finished_at=func.now(), heartbeat_at=None)
        .returning(import_jobs.c.storage_path)
    )
    if path is None:
        raise await _refuse(session, import_job_id, "discard")
    return str(path)
