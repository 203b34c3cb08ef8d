"""Run one claimed import of ListenBrainz / Last.fm scrobbles into `raw.scrobbles`.

The Spotify importer's machinery (`pipeline`) with scrobble rows: a child process (`parse_process`) reads and
normalises the files into batches of IMPORT_BATCH_SIZE rows (`iter_scrobble_rows`, shared with the preview;
`produce_scrobbles`) and this process lands each batch in its own transaction with the one loader (`loader`,
`Target` below: COPY straight into `raw.scrobbles` when the batch's key range is free, else through a temp
table with `INSERT … ON CONFLICT (user_id, record_key) DO NOTHING`), moving the job's progress in the same
transaction. Memory is bounded by the queue (two batches waiting, one loading).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Final, Protocol

from asyncpg.pgproto import pgproto
from sqlalchemy.ext.asyncio import AsyncEngine

from core.play_time import latest_allowed
from core.settings import Settings
from ingest.imports import jobs
from ingest.imports.errors import ImportRejected
from ingest.imports.loader import Target, land
from ingest.imports.parse_process import Batch, Done, ParseProcess, Plan, Put
from ingest.imports.results import ImportProgress, ImportResult, ProgressCallback
from ingest.imports.scrobble_formats import rows_of, source_of
from ingest.imports.scrobbles import COLUMNS, ScrobbleBuilder, ScrobbleRow
from ingest.imports.sources import ScrobbleFile, ScrobbleSource
from ingest.imports.tuning import import_tuning

# The same lock and probe as the Spotify import's (`pipeline`): scrobble keys start with the listen's time too.
_LOCK_USER_AND_PROBE: Final = """
SELECT
    EXISTS (SELECT 1 FROM app.users WHERE id = $1 FOR KEY SHARE) AS user_exists,
    EXISTS (
        SELECT 1 FROM raw.scrobbles
        WHERE user_id = $1 AND record_key >= $2 AND record_key <= $3
    ) AS keys_taken
"""
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
)


class _Stop(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class FileDone:
    """Yielded by `iter_scrobble_rows` after each file: what it held."""

    file: ScrobbleFile
    records: int


def format_of(files: list[ScrobbleFile]) -> str | None:
    """`import_jobs.format_detected`: `listenbrainz`, `lastfm`, or `mixed` for both."""
    sources = {source_of(item.kind) for item in files}
    return None if not sources else sources.pop() if len(sources) == 1 else "mixed"


def iter_scrobble_rows(
    source: ScrobbleSource,
    *,
    user_id: uuid.UUID,
    job_id: int,
    max_records: int,
    skipped: Counter[str],
    skip_details: list[str],
    stop: _Stop | None = None,
) -> Iterator[ScrobbleRow | FileDone]:
    """Every row of every file (skips counted in `skipped`, described in `skip_details`), a `FileDone` after
    each file. Raises `ImportRejected` for a file that cannot be read or past IMPORT_MAX_RECORDS."""
    latest = latest_allowed()
    records = 0
    for item in source.files:
        build = ScrobbleBuilder(
            user_id=user_id,
            import_job_id=job_id,
            source=source_of(item.kind),
            member=item.name,
            latest=latest,
            skip_details=skip_details,
        )
        in_file = 0
        with source.open(item) as reader:
            for index, row in rows_of(item.kind, reader, build):
                records += 1
                in_file += 1
                if records > max_records:
                    raise ImportRejected(
                        f"the export holds more than {max_records:,} records (IMPORT_MAX_RECORDS; reached in "
                        f"{item.name}, record {index + 1}); nothing was kept. Raise IMPORT_MAX_RECORDS or split it",
                        reason="too_many_records",
                        member=item.name,
                        record=index + 1,
                    )
                if type(row) is tuple:
                    yield row
                else:
                    skipped[str(row)] += 1
                if stop is not None and not records & 1023 and stop.is_set():
                    return
        yield FileDone(item, in_file)


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


def produce_scrobbles(
    put: Put,
    stop: Event,
    path: Path,
    name: str,
    user_id: uuid.UUID,
    job_id: int,
    *,
    max_bytes: int,
    max_records: int,
    batch_size: int,
) -> None:
    """Read the scrobble files and `put` their batches (in the parse process); False from `put` or `stop`
    set: the import is being stopped."""
    skipped: Counter[str] = Counter()
    details: list[str] = []
    with ScrobbleSource(path, name=name, max_bytes=max_bytes) as source:
        progress = ImportProgress(
            files_total=len(source.files), bytes_total=source.total, format_detected=format_of(source.files)
        )
        if not put(Plan(progress, [item.name for item in source.files], len(source.ignored))):
            return
        batch: list[ScrobbleRow] = []
        rows = files_done = 0
        for item in iter_scrobble_rows(
            source,
            user_id=pgproto.UUID(user_id.bytes),
            job_id=job_id,
            max_records=max_records,
            skipped=skipped,
            skip_details=details,
            stop=stop,
        ):
            if type(item) is tuple:
                batch.append(item)
                rows += 1
                if len(batch) >= batch_size:
                    if not put(Batch(batch, rows + skipped.total(), source.bytes_read, files_done)):
                        return
                    batch = []
            elif isinstance(item, FileDone):
                files_done += 1
        if stop.is_set():
            return
        if batch and not put(Batch(batch, rows + skipped.total(), source.bytes_read, files_done)):
            return
        put(Done(dict(skipped), details, rows + skipped.total(), source.bytes_read))


async def run_scrobble_import(
    engine: AsyncEngine, settings: Settings, job: jobs.ClaimedJob, *, progress_callback: ProgressCallback | None = None
) -> ImportResult:
    """Import the scrobbles of a claimed job. Raises `ImportRejected` (or a database error) on failure; the
    caller records the outcome, as for `pipeline.run_import`."""
    started = time.monotonic()
    name = job.original_filename or job.storage_path.name
    process = ParseProcess(
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
        await land(engine, job, _TARGET, process, result, progress_callback)
    progress = result.progress
    if progress.inserted + progress.duplicates == 0:
        raise nothing_readable(name, progress.records_read, result.skip_details)
    if progress_callback is not None:
        progress_callback(progress)
    result.seconds = time.monotonic() - started
    return result
