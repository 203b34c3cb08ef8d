"""`app.job_runs` rows: one per job (initial_sync, poll, enrich), opened when it starts, closed with stats."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables

type JobType = Literal["initial_sync", "poll", "enrich"]
type JobStatus = Literal["success", "error", "partial"]


async def start_job(engine: AsyncEngine, job_type: JobType, user_id: UUID | None, worker_id: str) -> int:
    async with engine.begin() as connection:
        job_id = await connection.scalar(
            insert(tables.job_runs)
            .values(job_type=job_type, user_id=user_id, status="running", worker_id=worker_id, stats={})
            .returning(tables.job_runs.c.id)
        )
    assert job_id is not None
    return int(job_id)


async def finish_job(
    engine: AsyncEngine, job_id: int, status: JobStatus, stats: Mapping[str, object], error: str | None = None
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(tables.job_runs)
            .where(tables.job_runs.c.id == job_id)
            .values(
                status=status,
                stats=dict(stats),
                error_message=error[:2000] if error else None,
                finished_at=datetime.now(UTC),
            )
        )


async def record_job(
    engine: AsyncEngine,
    job_type: JobType,
    *,
    user_id: UUID | None,
    worker_id: str,
    started_at: datetime,
    status: JobStatus,
    stats: Mapping[str, object],
    error: str | None = None,
) -> int:
    """A job that is written once it is over (enrichment: only cycles that did something leave a row)."""
    async with engine.begin() as connection:
        job_id = await connection.scalar(
            insert(tables.job_runs)
            .values(
                job_type=job_type,
                user_id=user_id,
                worker_id=worker_id,
                started_at=started_at,
                finished_at=datetime.now(UTC),
                status=status,
                stats=dict(stats),
                error_message=error[:2000] if error else None,
            )
            .returning(tables.job_runs.c.id)
        )
    assert job_id is not None
    return int(job_id)
