"""`app.job_runs` rows: one per job (initial_sync, poll, enrich), opened when it starts, closed with stats.

A collector killed mid-job (SIGKILL, OOM) leaves its row `running`; `abandon_orphaned_jobs` marks such rows
`abandoned` when a collector starts, once their worker's heartbeat shows it gone."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from uuid import UUID

from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables

logger = logging.getLogger(__name__)

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


# A collector beats every 30 s; four missed beats mean it is gone (as for import jobs).
STALE_WORKER: Final = timedelta(minutes=2)

_ABANDON = text(
    """
    UPDATE app.job_runs j
    SET status = 'abandoned', finished_at = now(),
        error_message = 'the collector running this job stopped without finishing it (killed?)'
    WHERE j.status = 'running' AND j.job_type IN ('initial_sync', 'poll', 'enrich')
      AND NOT EXISTS (
          SELECT 1 FROM app.worker_heartbeats h
          WHERE h.worker_id = j.worker_id AND h.state = 'running'
            AND h.last_seen_at >= now() - make_interval(secs => :stale))
    """
)


async def abandon_orphaned_jobs(engine: AsyncEngine, *, stale_after: timedelta = STALE_WORKER) -> int:
    """Mark collector jobs left `running` by a collector that is gone (stopped, or silent for `stale_after`)."""
    async with engine.begin() as connection:
        result = await connection.execute(_ABANDON, {"stale": stale_after.total_seconds()})
    if result.rowcount:
        logger.warning("marked %s job run(s) left running by a stopped collector as abandoned", result.rowcount)
    return result.rowcount
