"""Admin endpoints (spec §7A, minus the ZIP upload which lives in `imports.py`): users, control actions,
sync status, job runs, import jobs, logs and diagnostics. Every route requires admin credentials.

Thin: validate, call `serve.admin_service`, shape the answer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from serve import user_deletion
from serve.admin_service import diagnostics as diagnostics_service
from serve.admin_service import imports as import_service
from serve.admin_service import jobs as job_service
from serve.admin_service import logs as log_service
from serve.admin_service import sync as sync_service
from serve.admin_service import users as user_service
from serve.admin_service.common import Page, ServiceError
from serve.api.deps import SessionDep, SettingsDep, require_admin
from serve.api.errors import AppError, Conflict, NotFound, Unprocessable
from serve.bounds import BigCount, Instant, RowId
from transform.process import run_in_process

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")]

# Mirrors of the value sets in core.tables (a unit test checks they stay equal).
type UserStatus = Literal["active", "paused", "needs_reauth", "disabled"]
type JobType = Literal["import_zip", "initial_sync", "poll", "enrich", "transform", "purge_logs"]
type JobStatus = Literal["running", "success", "error", "partial", "interrupted", "abandoned"]
type ImportStatus = Literal["pending", "running", "success", "error", "partial", "preview", "previewed", "discarded"]
type LogService = Literal["api", "collector", "frontend", "transform", "dashboards", "cli"]
type LogLevel = Literal["debug", "info", "warning", "error"]


def _raise(error: ServiceError) -> AppError:
    match error.kind:
        case "not_found":
            return NotFound(error.message)
        case "conflict":
            return Conflict(error.message)
        case _:
            return Unprocessable(error.message)


def _search_text(value: str | None) -> str | None:
    """Free text is always a bound parameter (NUL never gets here: serve.api.request_input refuses it)."""
    return value or None


class ActionResult(BaseModel):
    user_id: uuid.UUID
    action: str
    message: str


class NewUser(BaseModel):
    display_name: str = Field(min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=64, description="IANA name; default DEFAULT_TIMEZONE")


class TimezoneChange(BaseModel):
    timezone: str = Field(min_length=1, max_length=64, description="IANA name, e.g. Europe/Berlin")


class TransformStarted(BaseModel):
    status: Literal["started"]
    message: str


# ----- users ------------------------------------------------------------------------------------------


@router.get("/users", response_model=Page[user_service.User], summary="List users with token, sync and import status")
async def list_users(
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[UserStatus | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200, description="search in name, email, Spotify id")] = None,
) -> Page[user_service.User]:
    return await user_service.list_users(session, limit=limit, offset=offset, status=status, q=_search_text(q))


@router.post(
    "/users", response_model=user_service.CreatedUser, status_code=201, summary="Create a local (ZIP-only) user"
)
async def create_user(body: NewUser, session: SessionDep, settings: SettingsDep) -> user_service.CreatedUser:
    try:
        return await user_service.create_local_user(
            session, display_name=body.display_name, timezone=body.timezone or settings.default_timezone
        )
    except ServiceError as error:
        raise _raise(error) from None


@router.get("/users/{user_id}", response_model=user_service.UserDetail, summary="One user with counts and recent jobs")
async def get_user(user_id: uuid.UUID, session: SessionDep) -> user_service.UserDetail:
    try:
        return await user_service.get_user(session, user_id)
    except ServiceError as error:
        raise _raise(error) from None


@router.delete("/users/{user_id}", status_code=204, summary="Delete a user and all their data")
async def delete_user(
    user_id: uuid.UUID, session: SessionDep, settings: SettingsDep, background: BackgroundTasks
) -> Response:
    try:
        deleted = await user_service.delete_user(session, user_id, upload_dir=settings.effective_upload_dir)
    except ServiceError as error:
        raise _raise(error) from None
    # Background tasks run after the response, i.e. after the session committed (SessionDep): files go only
    # once the rows are gone for good.
    background.add_task(user_deletion.remove_files, deleted.files)
    logger.warning(
        "admin deleted user",
        extra={"ctx": {"deleted_user_id": str(user_id), "warehouse_rows": sum(deleted.warehouse_rows.values())}},
    )
    return Response(status_code=204)


@router.put("/users/{user_id}/timezone", response_model=ActionResult, summary="Set the user's IANA time zone")
async def set_timezone(user_id: uuid.UUID, body: TimezoneChange, session: SessionDep) -> ActionResult:
    try:
        await user_service.set_timezone(session, user_id, body.timezone)
    except ServiceError as error:
        raise _raise(error) from None
    return ActionResult(user_id=user_id, action="timezone", message=f"time zone set to {body.timezone}")


async def _action(name: str, user_id: uuid.UUID, session: SessionDep, message: str) -> ActionResult:
    handlers = {
        "pause": sync_service.pause_user,
        "resume": sync_service.resume_user,
        "initial-sync": sync_service.request_initial_sync,
        "resync": sync_service.request_resync,
    }
    try:
        await handlers[name](session, user_id)
    except ServiceError as error:
        raise _raise(error) from None
    logger.info("admin action %s", name, extra={"user_id": str(user_id)})
    return ActionResult(user_id=user_id, action=name, message=message)


@router.post("/users/{user_id}/pause", response_model=ActionResult, summary="Stop collecting for the user")
async def pause(user_id: uuid.UUID, session: SessionDep) -> ActionResult:
    return await _action("pause", user_id, session, "paused: the collector skips this user")


@router.post("/users/{user_id}/resume", response_model=ActionResult, summary="Resume collecting for the user")
async def resume(user_id: uuid.UUID, session: SessionDep) -> ActionResult:
    return await _action("resume", user_id, session, "resumed: polled on the collector's next cycle")


@router.post("/users/{user_id}/initial-sync", response_model=ActionResult, summary="Run the initial sync again")
async def initial_sync(user_id: uuid.UUID, session: SessionDep) -> ActionResult:
    return await _action("initial-sync", user_id, session, "initial sync requested: runs on the collector's next cycle")


@router.post("/users/{user_id}/resync", response_model=ActionResult, summary="Poll the user now")
async def resync(user_id: uuid.UUID, session: SessionDep) -> ActionResult:
    return await _action("resync", user_id, session, "poll requested: due now, rate-limit wait cleared")


# ----- sync, jobs, imports ------------------------------------------------------------------------------


@router.get("/sync-status", response_model=sync_service.SyncStatus, summary="Sync state of every user")
async def sync_status(session: SessionDep, limit: Limit = 100, offset: Offset = 0) -> sync_service.SyncStatus:
    return await sync_service.sync_status(session, limit=limit, offset=offset)


@router.get("/job-runs", response_model=Page[job_service.JobRun], summary="Collector and transform job runs")
async def job_runs(
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    user_id: uuid.UUID | None = None,
    job_type: Annotated[JobType | None, Query()] = None,
    status: Annotated[JobStatus | None, Query()] = None,
) -> Page[job_service.JobRun]:
    return await job_service.list_job_runs(
        session, limit=limit, offset=offset, user_id=user_id, job_type=job_type, status=status
    )


@router.get("/job-runs/summary", response_model=list[job_service.JobRunSummary], summary="Runs per type and status")
async def job_runs_summary(
    session: SessionDep, days: Annotated[int, Query(ge=1, le=3650)] = 7
) -> list[job_service.JobRunSummary]:
    return await job_service.job_run_summary(session, since=datetime.now(UTC) - timedelta(days=days))


@router.get("/job-runs/{job_run_id}", response_model=job_service.JobRun, summary="One job run with its stats")
async def job_run(job_run_id: RowId, session: SessionDep) -> job_service.JobRun:
    try:
        return await job_service.get_job_run(session, job_run_id)
    except ServiceError as error:
        raise _raise(error) from None


@router.get("/import-jobs", response_model=Page[import_service.ImportJob], summary="ZIP import jobs")
async def import_jobs(
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    user_id: uuid.UUID | None = None,
    status: Annotated[ImportStatus | None, Query()] = None,
) -> Page[import_service.ImportJob]:
    return await import_service.list_import_jobs(session, limit=limit, offset=offset, user_id=user_id, status=status)


@router.get(
    "/import-jobs/{import_job_id}", response_model=import_service.ImportJob, summary="One import job (progress)"
)
async def import_job(import_job_id: RowId, session: SessionDep) -> import_service.ImportJob:
    try:
        return await import_service.get_import_job(session, import_job_id)
    except ServiceError as error:
        raise _raise(error) from None


# ----- logs -----------------------------------------------------------------------------------------------


@router.get("/logs", response_model=log_service.LogPage, summary="Search structured logs (newest first)")
async def search_logs(
    session: SessionDep,
    service_name: Annotated[LogService | None, Query(alias="service")] = None,
    level: Annotated[LogLevel | None, Query(description="minimum severity")] = None,
    q: Annotated[str | None, Query(max_length=500, description="literal text in message or context")] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    user_id: uuid.UUID | None = None,
    before_id: RowId | None = None,
    after_id: BigCount | None = None,
    limit: Limit = 100,
) -> log_service.LogPage:
    if since is not None and until is not None and until <= since:
        raise Unprocessable("`until` must be after `since`")
    return await log_service.search_logs(
        session,
        limit=limit,
        service=service_name,
        level=level,
        q=_search_text(q),
        since=since,
        until=until,
        before_id=before_id,
        after_id=after_id,
        user_id=user_id,
    )


# ----- diagnostics and transform --------------------------------------------------------------------------


@router.get(
    "/diagnostics",
    response_model=diagnostics_service.Diagnostics,
    summary="Database, Spotify, collector, transform, disk",
)
async def diagnostics(
    session: SessionDep,
    settings: SettingsDep,
    probe: Annotated[bool, Query(description="also call Spotify's API to test reachability")] = False,
) -> diagnostics_service.Diagnostics:
    return await diagnostics_service.diagnostics(session, settings, probe=probe)


@router.post("/transform", response_model=TransformStarted, status_code=202, summary="Run the transform now")
async def trigger_transform(
    request: Request,
    full_refresh: Annotated[bool, Query(description="rebuild every model from scratch (slow)")] = False,
) -> TransformStarted:
    """Start the transform in a process of its own (`python -m transform`; it records itself in job_runs), so the
    API's event loop never waits on dbt. One at a time per API process; the runner serialises runs across
    processes. When the API stops, the run is interrupted (and recorded so)."""
    running: set[asyncio.Task[None]] = request.app.state.transforms
    if running:
        raise Conflict("a transform started from this API is still running; see job runs of type transform")
    database_url: str = request.app.state.database_url

    async def _background() -> None:
        status = await run_in_process(database_url, full_refresh=full_refresh)
        log = logger.info if status in ("success", "skipped") else logger.warning
        log("transform triggered by admin ended: %s", status)

    task = asyncio.get_running_loop().create_task(_background())
    running.add(task)
    task.add_done_callback(running.discard)
    logger.info("admin triggered a transform")
    return TransformStarted(status="started", message="transform started; see job runs of type transform")
