"""Run one claimed import of ListenBrainz / Last.fm scrobbles into `raw.scrobbles`.

The Spotify importer's machinery (`pipeline`) with scrobble rows: a thread (`parse_thread`) reads and
normalises the files into batches of IMPORT_BATCH_SIZE rows (`iter_scrobble_rows`, shared with the preview;
`produce_scrobbles`) and the event loop lands each batch in its own transaction with the one loader (`loader`,
`Target` below: COPY straight into `raw.scrobbles` when the batch's key range is free, else through a temp
table with `INSERT … ON CONFLICT (user_id, record_key) DO NOTHING`), moving the job's progress in the same
transaction. Memory is bounded by the queue (two batches waiting, one loading).
"""

from __future__ import annotations

import time
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports import jobs
from ingest.imports.errors import ImportRejected
from ingest.imports.loader import Target, land, lock_user_and_probe
from ingest.imports.parse_thread import ParseThread
from ingest.imports.producers import FileDone, format_of, iter_scrobble_rows, produce_scrobbles
from ingest.imports.results import ImportProgress, ImportResult, ProgressCallback
from ingest.imports.scrobbles import COLUMNS
from ingest.imports.tuning import import_tuning

__all__ = [
    "FileDone",
    "format_of",
    "iter_scrobble_rows",
    "nothing_readable",
    "produce_scrobbles",
    "run_scrobble_import",
]

# The same lock and probe as the Spotify import's (`pipeline`): scrobble keys start with the listen's time too.
_LOCK_USER_AND_PROBE: Final = lock_user_and_probe("raw.scrobbles")
_PROGRESS: Final = """
UPDATE app.import_jobs SET
    records_ingested = coalesce(records_ingested, 0) + $2,
    earliest_played_at = least(earliest_played_at, $3),
    latest_played_at = greatest(latest_played_at, $4),
    heartbeat_at = now()
WHERE id = $1 AND status = 'running' AND job_run_id = $5
RETURNING id
"""
_TARGET: Final = Target(
    schema="raw",
    table="scrobbles",
    columns=COLUMNS,
    stage="scrobble_stage",
    stage_columns="LIKE raw.scrobbles INCLUDING DEFAULTS",
    key_index=COLUMNS.index("record_key"),
    time_index=COLUMNS.index("started_at"),
    probe=_LOCK_USER_AND_PROBE,
    progress=_PROGRESS,
    brin_index="raw.ix_scrobbles_ingested_at",
    micros_times=True,
)


def nothing_readable(name: str, records: int, skip_details: list[str]) -> ImportRejected:
    """Every record was skipped: the file is not what it looks like; say what the first problems were."""
    if records == 0:
        return ImportRejected(f"{name} holds no listens at all", reason="empty_export")
    return ImportRejected(
        f"none of the {records:,} records of {name} could be read as a listen (e.g. "
        + "; ".join(skip_details[:3])
        + "); nothing was imported",
        reason="nothing_readable",
    )


async def run_scrobble_import(
    engine: AsyncEngine, settings: Settings, job: jobs.ClaimedJob, *, progress_callback: ProgressCallback | None = None
) -> ImportResult:
    """Import the scrobbles of a claimed job. Raises `ImportRejected` (or a database error) on failure; the
    caller records the outcome, as for `pipeline.run_import`."""
    started = time.monotonic()
    name = job.original_filename or job.storage_path.name
    producer = ParseThread(
        produce_scrobbles,
        (job.storage_path, name, job.user_id, job.id),
        kwargs={
            "max_bytes": settings.import_max_zip_size_mb * 1024 * 1024,
            "max_records": settings.import_max_records,
            "batch_size": settings.import_batch_size,
        },
        name=f"scrobble-parse-{job.id}",
    )
    result = ImportResult(progress=ImportProgress())
    with import_tuning():
        await land(engine, job, _TARGET, producer, result, progress_callback)
    progress = result.progress
    if progress.inserted + progress.duplicates == 0:
        raise nothing_readable(name, progress.records_read, result.skip_details)
    if progress_callback is not None:
        progress_callback(progress)
    result.seconds = time.monotonic() - started
    return result
