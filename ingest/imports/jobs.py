"""`app.import_jobs` and `app.job_runs`: create, claim (FOR UPDATE SKIP LOCKED), resume, finish.

A job is claimed by one worker at a time: `pending` jobs, and `running` jobs whose `heartbeat_at` is older
than `STALE_AFTER` (the worker that had it died; the import restarts from the start of the file and the
rows it already landed count as duplicates, so nothing is added twice). One user's imports never run side
by side (a job is skipped while another of the same user is running with a fresh heartbeat).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.log import redact_text

STALE_AFTER: Final = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    user_id: uuid.UUID
    storage_path: Path
    original_filename: str | None
    origin: str
    file_size_bytes: int
    job_run_id: int
    # A running job whose worker died, taken over; rows it had landed stay.
    resumed: bool
    records_before: int


async def create_job(
    connection: AsyncConnection,
    *,
    user_id: uuid.UUID,
    storage_path: Path,
    original_filename: str | None,
    origin: str,
    file_size_bytes: int,
    file_sha256: str | None,
) -> int:
    result = await connection.execute(
        text(
            "INSERT INTO app.import_jobs (user_id, storage_path, original_filename, origin, file_size_bytes, "
            "file_sha256) VALUES (:user_id, :path, :name, :origin, :size, :sha) RETURNING id"
        ),
        {
            "user_id": user_id,
            "path": str(storage_path),
            "name": original_filename,
            "origin": origin,
            "size": file_size_bytes,
            "sha": file_sha256,
        },
    )
    return int(result.scalar_one())


_CLAIM = text(
    """
    SELECT j.id, j.user_id, j.storage_path, j.original_filename, j.origin, j.file_size_bytes, j.status,
           j.job_run_id, coalesce(j.records_ingested, 0) AS records_before
    FROM app.import_jobs j
    WHERE (j.status = 'pending'
           OR (j.status = 'running'
               AND (j.heartbeat_at IS NULL OR j.heartbeat_at < now() - make_interval(secs => :stale))))
      AND (CAST(:only_id AS bigint) IS NULL OR j.id = CAST(:only_id AS bigint))
      AND NOT EXISTS (
          SELECT 1 FROM app.import_jobs other
          WHERE other.user_id = j.user_id AND other.id <> j.id AND other.status = 'running'
            AND other.heartbeat_at >= now() - make_interval(secs => :stale))
    ORDER BY j.uploaded_at, j.id
    LIMIT 1
    FOR UPDATE OF j SKIP LOCKED
    """
)


async def claim_job(
    engine: AsyncEngine, *, worker_id: str, only_id: int | None = None, stale_after: timedelta = STALE_AFTER
) -> ClaimedJob | None:
    """Take the oldest claimable job (or `only_id`) for this worker, with a new `job_runs` row."""
    async with engine.begin() as connection:
        row = (
            (await connection.execute(_CLAIM, {"stale": stale_after.total_seconds(), "only_id": only_id}))
            .mappings()
            .first()
        )
        if row is None:
            return None
        resumed = row["status"] == "running"
        run_id = int(
            (
                await connection.execute(
                    text(
                        "INSERT INTO app.job_runs (job_type, user_id, status, worker_id, stats) "
                        "VALUES ('import_zip', :user_id, 'running', :worker_id, CAST(:stats AS jsonb)) RETURNING id"
                    ),
                    {
                        "user_id": row["user_id"],
                        "worker_id": worker_id,
                        "stats": json.dumps({"import_job_id": row["id"], "resumed": resumed}),
                    },
                )
            ).scalar_one()
        )
        if resumed and row["job_run_id"] is not None:
            await connection.execute(
                text(
                    "UPDATE app.job_runs SET status = 'error', finished_at = now(), error_message = :message "
                    "WHERE id = :id AND status = 'running'"
                ),
                {
                    "id": row["job_run_id"],
                    "message": f"the worker stopped (no heartbeat for {stale_after}); import restarted as run {run_id}",
                },
            )
        await connection.execute(
            text(
                "UPDATE app.import_jobs SET status = 'running', started_at = coalesce(started_at, now()), "
                "heartbeat_at = now(), job_run_id = :run_id, error_message = NULL WHERE id = :id"
            ),
            {"id": row["id"], "run_id": run_id},
        )
    return ClaimedJob(
        id=int(row["id"]),
        user_id=row["user_id"],
        storage_path=Path(row["storage_path"]),
        original_filename=row["original_filename"],
        origin=str(row["origin"]),
        file_size_bytes=int(row["file_size_bytes"]),
        job_run_id=run_id,
        resumed=resumed,
        records_before=int(row["records_before"]),
    )


async def set_format(engine: AsyncEngine, job_id: int, format_detected: str | None) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE app.import_jobs SET format_detected = :format, heartbeat_at = now() WHERE id = :id"),
            {"id": job_id, "format": format_detected},
        )


async def heartbeat(engine: AsyncEngine, job_id: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE app.import_jobs SET heartbeat_at = now() WHERE id = :id AND status = 'running'"),
            {"id": job_id},
        )


async def _still_ours(connection: AsyncConnection, job: ClaimedJob, stats: dict[str, Any]) -> bool:
    """Lock the job row; False (and this run closed as superseded) when another worker has taken the job
    over meanwhile (our heartbeat went stale): its run decides the outcome, ours must not touch its rows."""
    current = (
        await connection.execute(
            text("SELECT job_run_id FROM app.import_jobs WHERE id = :id FOR UPDATE"), {"id": job.id}
        )
    ).scalar_one_or_none()
    if current == job.job_run_id:
        return True
    await connection.execute(
        text(
            "UPDATE app.job_runs SET status = 'error', finished_at = now(), stats = CAST(:stats AS jsonb), "
            "error_message = :message WHERE id = :id"
        ),
        {
            "id": job.job_run_id,
            "stats": json.dumps(stats, default=str),
            "message": f"superseded: the import was taken over by run {current} (this worker's heartbeat went stale)",
        },
    )
    return False


async def finish_success(
    engine: AsyncEngine, job: ClaimedJob, *, records_total: int, stats: dict[str, Any], status: str = "success"
) -> None:
    async with engine.begin() as connection:
        if not await _still_ours(connection, job, stats):
            return
        await connection.execute(
            text(
                "UPDATE app.import_jobs SET status = :status, finished_at = now(), records_total = :total, "
                "records_ingested = coalesce(records_ingested, 0), heartbeat_at = now() WHERE id = :id"
            ),
            {"id": job.id, "total": records_total, "status": status},
        )
        await connection.execute(
            text(
                "UPDATE app.job_runs SET status = :status, finished_at = now(), stats = CAST(:stats AS jsonb) "
                "WHERE id = :id"
            ),
            {"id": job.job_run_id, "stats": json.dumps(stats, default=str), "status": status},
        )


async def finish_error(engine: AsyncEngine, job: ClaimedJob, *, message: str, stats: dict[str, Any]) -> int:
    """Roll the import back (every row this job landed, in any attempt) and record the error.

    Returns how many rows were removed.
    """
    message = redact_text(message)
    async with engine.begin() as connection:
        if not await _still_ours(connection, job, stats | {"error": message}):
            return 0
        removed = (
            await connection.execute(
                text("DELETE FROM raw.export_records WHERE import_job_id = :id AND user_id = :user_id"),
                {"id": job.id, "user_id": job.user_id},
            )
        ).rowcount
        removed += (
            await connection.execute(
                text("DELETE FROM raw.scrobbles WHERE import_job_id = :id AND user_id = :user_id"),
                {"id": job.id, "user_id": job.user_id},
            )
        ).rowcount
        stats = {**stats, "rolled_back": removed}
        await connection.execute(
            text(
                "UPDATE app.import_jobs SET status = 'error', finished_at = now(), error_message = :message, "
                "records_ingested = 0, earliest_played_at = NULL, latest_played_at = NULL, heartbeat_at = now() "
                "WHERE id = :id"
            ),
            {"id": job.id, "message": message},
        )
        await connection.execute(
            text(
                "UPDATE app.job_runs SET status = 'error', finished_at = now(), error_message = :message, "
                "stats = CAST(:stats AS jsonb) WHERE id = :id"
            ),
            {"id": job.job_run_id, "message": message, "stats": json.dumps(stats, default=str)},
        )
    return int(removed)


async def update_storage_path(engine: AsyncEngine, job_id: int, path: Path) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE app.import_jobs SET storage_path = :path WHERE id = :id"), {"id": job_id, "path": str(path)}
        )


@dataclass(frozen=True, slots=True)
class JobSummary:
    id: int
    status: str
    format_detected: str | None
    records_ingested: int | None
    records_total: int | None
    earliest_played_at: datetime | None
    latest_played_at: datetime | None
    error_message: str | None


async def job_summary(engine: AsyncEngine, job_id: int) -> JobSummary:
    async with engine.connect() as connection:
        row = (
            (
                await connection.execute(
                    text(
                        "SELECT id, status, format_detected, records_ingested, records_total, earliest_played_at, "
                        "latest_played_at, error_message FROM app.import_jobs WHERE id = :id"
                    ),
                    {"id": job_id},
                )
            )
            .mappings()
            .one()
        )
    return JobSummary(**dict(row))
