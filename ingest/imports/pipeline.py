"""Run one claimed import of a Spotify export ZIP into `raw.export_records`.

Parsing and loading overlap: a thread (`parse_thread`) reads the ZIP, parses (msgspec or the standard
library, see `jsonstream`) and normalises (`normalize`) records into batches of IMPORT_BATCH_SIZE rows
(`producers.produce_export`); the event loop lands each batch in its own transaction (`loader`: COPY straight
in, or through a staging table with ON CONFLICT DO NOTHING), moving the job's progress in the same
transaction. The ZIP is checked and planned (`plan_archive`: caps, hostile members, which files are history)
before the thread starts. Memory is bounded by the queue between the two (two batches waiting, one loading)
and the batch being built, whatever the size of the export. The garbage collector and the GIL's switch
interval are tuned meanwhile (`tuning`).

Atomicity: each batch is committed, so progress is real; a failed import is rolled back as a whole by
`jobs.finish_error` (every row of the job, by `import_job_id`).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports import jobs
from ingest.imports.archive import ArchivePlan, open_archive, plan_archive
from ingest.imports.loader import Rows, Target, land, lock_user_and_probe
from ingest.imports.normalize import COLUMNS
from ingest.imports.parse_thread import ParseThread
from ingest.imports.producers import produce_export
from ingest.imports.results import ImportProgress, ImportResult, ProgressCallback
from ingest.imports.tuning import import_tuning

# Imported from here by older code and tests.
_import_tuning = import_tuning

__all__ = ["ImportProgress", "ImportResult", "ProgressCallback", "produce_export", "run_import"]

_STAGE_COLUMNS: Final = """
    user_id uuid, import_job_id bigint, record_key text, played_at timestamptz, ms_played integer,
    content_kind text, source_format text, track_id text, track_name text, artist_name text, album_name text,
    spotify_uri text, episode_name text, show_name text, audiobook_title text, audiobook_chapter_title text,
    incognito boolean, extra jsonb, source_file text
"""

# Progress and the tracks without a Spotify URI in one round trip (a data-modifying CTE runs whatever the outer
# statement reads). ORDER BY: one lock order for concurrent imports sharing tracks, so no deadlocks.
_PROGRESS: Final = """
WITH local_tracks AS (
    INSERT INTO raw.tracks (track_id, name, album_name, source)
    SELECT track_id, name, album_name, 'import_zip'
    FROM unnest($6::text[], $7::text[], $8::text[]) AS t (track_id, name, album_name)
    ORDER BY track_id
    ON CONFLICT (track_id) DO NOTHING
)
UPDATE app.import_jobs SET
    records_ingested = coalesce(records_ingested, 0) + $2,
    earliest_played_at = least(earliest_played_at, $3),
    latest_played_at = greatest(latest_played_at, $4),
    heartbeat_at = now()
WHERE id = $1 AND status = 'running' AND job_run_id = $5
RETURNING id
"""

# `raw.export_records` has no row-level foreign key (checked per COPYed row it cost PostgreSQL ~40 % of the
# import): the `FOR KEY SHARE` lock on the user, taken once per batch, is what the key took per row. A user
# deleted meanwhile waits for the batch to commit (its trigger then removes the rows); the next batch finds
# the user gone and stops. The same round trip asks whether any key of the batch's range is stored already:
# keys start with the play's UTC time and an export is chronological, so on a first import this is an empty
# range of the unique index, and the batch can be COPYed straight into the table.
_LOCK_USER_AND_PROBE: Final = lock_user_and_probe("raw.export_records")


def _local_tracks(rows: Rows) -> tuple[object, ...]:
    """The batch's tracks without a Spotify URI (`local:` ids), for `raw.tracks`: ids, names, albums."""
    local = {row[7]: row for row in rows if row[7] is not None and row[7].startswith("local:")}
    ids = sorted(local)
    return ids, [local[i][8] for i in ids], [local[i][10] for i in ids]


def _target() -> Target:
    # Built per import (not at import time) from this module's statements, which a test may replace.
    return Target(
        schema="raw",
        table="export_records",
        columns=COLUMNS,
        stage="import_stage",
        stage_columns=_STAGE_COLUMNS,
        key_index=2,
        time_index=3,
        probe=_LOCK_USER_AND_PROBE,
        progress=_PROGRESS,
        extra=_local_tracks,
        brin_index="raw.ix_export_records_ingested_at",
        micros_times=True,  # `played_at` is PostgreSQL's microseconds (`normalize.Row`)
    )


def _plan(path: Path, name: str, max_zip_bytes: int) -> ArchivePlan:
    with open_archive(path, max_zip_bytes=max_zip_bytes, name=name) as archive:
        return plan_archive(archive, max_zip_bytes=max_zip_bytes, name=name)


async def run_import(
    engine: AsyncEngine,
    settings: Settings,
    job: jobs.ClaimedJob,
    *,
    progress_callback: ProgressCallback | None = None,
    parser: str = "msgspec",
) -> ImportResult:
    """Import the ZIP of a claimed job. Raises `ImportRejected` (or a database error) on failure; the
    caller records the outcome (`jobs.finish_success` / `jobs.finish_error`)."""
    started = time.monotonic()
    # Messages name the file as the person named it: uploads are stored under a generated name.
    name = job.original_filename or job.storage_path.name
    max_zip_bytes = settings.import_max_zip_size_mb * 1024 * 1024
    plan = await asyncio.to_thread(_plan, job.storage_path, name, max_zip_bytes)
    producer = ParseThread(
        produce_export,
        (job.storage_path, name, plan, job.user_id, job.id),
        kwargs={
            "max_zip_bytes": max_zip_bytes,
            "max_records": settings.import_max_records,
            "batch_size": settings.import_batch_size,
            "store_optional": settings.import_store_optional_fields,
            "parser": parser,
        },
        name=f"import-parse-{job.id}",
    )
    result = ImportResult(progress=ImportProgress())
    with _import_tuning():
        await land(engine, job, _target(), producer, result, progress_callback)
    if progress_callback is not None:
        progress_callback(result.progress)
    result.seconds = time.monotonic() - started
    return result
