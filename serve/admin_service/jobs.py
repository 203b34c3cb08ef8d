"""Job runs: the record every job (import, sync, poll, enrichment, transform, purge) leaves, listed and summed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import page_of
from core.tables import job_runs
from serve.admin_service.common import Page, ServiceError


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


class JobRunSummary(BaseModel):
    job_type: str
    status: str
    runs: int
    avg_duration_seconds: float | None


def job_run_of(row: Any) -> JobRun:
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
    return Page[JobRun](items=[job_run_of(row) for row in rows], total=total, limit=limit, offset=offset)


async def get_job_run(session: AsyncSession, job_run_id: int) -> JobRun:
    row = (await session.execute(select(job_runs).where(job_runs.c.id == job_run_id))).first()
    if row is None:
        raise ServiceError("not_found", f"no job run with id {job_run_id}")
    return job_run_of(row)


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
