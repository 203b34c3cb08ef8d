"""Run one claimed import of ListenBrainz / Last.fm scrobbles into `raw.scrobbles`.

The same shape as the Spotify importer (`pipeline`): a thread reads and normalises the files into batches of
IMPORT_BATCH_SIZE rows (`iter_scrobble_rows`, shared with the preview) and the event loop lands each batch in
its own transaction — COPY straight into `raw.scrobbles` until a key collides, then COPY into a temp table
and `INSERT … ON CONFLICT (user_id, record_key) DO NOTHING` — moving the job's progress in the same
transaction. Memory is bounded by the queue (two batches waiting, one loading).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import asyncpg
from asyncpg.pgproto import pgproto
from sqlalchemy.ext.asyncio import AsyncEngine

from core.play_time import latest_allowed
from core.settings import Settings
from ingest.imports import jobs
from ingest.imports.errors import ImportRejected
from ingest.imports.pipeline import ImportProgress, ImportResult, ProgressCallback
from ingest.imports.scrobble_formats import rows_of, source_of
from ingest.imports.scrobbles import COLUMNS, ScrobbleBuilder, ScrobbleRow
from ingest.imports.sources import ScrobbleFile, ScrobbleSource

_QUEUE_DEPTH: Final = 2
_HEARTBEAT_SECONDS: Final = 20.0
_COLUMN_LIST: Final = ", ".join(COLUMNS)
_STAGE_DDL: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS scrobble_stage (LIKE raw.scrobbles INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_INSERT_FROM_STAGE: Final = (
    f"INSERT INTO raw.scrobbles ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM scrobble_stage "
    "ON CONFLICT (user_id, record_key) DO NOTHING"
)
_LOCK_USER: Final = "SELECT 1 FROM app.users WHERE id = $1 FOR KEY SHARE"
_PROGRESS: Final = """
UPDATE app.import_jobs SET
    records_ingested = coalesce(records_ingested, 0) + $2,
    earliest_played_at = least(earliest_played_at, $3),
    latest_played_at = greatest(latest_played_at, $4),
    heartbeat_at = now()
WHERE id = $1 AND status = 'running' AND job_run_id = $5
RETURNING id
"""
_STARTED_AT: Final = 4  # index of started_at in a row


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
    stop: threading.Event | None = None,
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


class _Loader:
    def __init__(self, connection: asyncpg.Connection, job: jobs.ClaimedJob) -> None:
        self._connection = connection
        self._job = job
        self._direct = True
        self._staged = False

    async def load(self, rows: list[ScrobbleRow]) -> int:
        connection = self._connection
        inserted: int | None = None
        async with connection.transaction():
            if await connection.fetchval(_LOCK_USER, self._job.user_id) is None:
                raise ImportRejected(
                    "the user was deleted while the import ran; nothing of this import was kept", reason="user_deleted"
                )
            if self._direct:
                try:
                    async with connection.transaction():  # a savepoint: a conflict undoes only this COPY
                        await connection.copy_records_to_table(
                            "scrobbles", schema_name="raw", records=rows, columns=COLUMNS
                        )
                    inserted = len(rows)
                except asyncpg.UniqueViolationError:
                    self._direct = False
            if inserted is None:
                if not self._staged:
                    await connection.execute(_STAGE_DDL)
                    self._staged = True
                await connection.copy_records_to_table("scrobble_stage", records=rows, columns=COLUMNS)
                status = await connection.execute(_INSERT_FROM_STAGE)
                inserted = int(status.rsplit(" ", 1)[-1])
            times: list[datetime] = [row[_STARTED_AT] for row in rows]
            claimed = await connection.fetchval(
                _PROGRESS, self._job.id, inserted, min(times), max(times), self._job.job_run_id
            )
            if claimed is None:
                raise ImportRejected(
                    "the import was taken over by another worker or cancelled while it ran; see the job's latest run",
                    reason="lost_claim",
                )
        return inserted


@dataclass(frozen=True, slots=True)
class _Plan:
    progress: ImportProgress
    files: list[str]
    ignored: int


@dataclass(frozen=True, slots=True)
class _Batch:
    rows: list[ScrobbleRow]
    bytes_read: int
    files_done: int


@dataclass(frozen=True, slots=True)
class _Done:
    skipped: dict[str, int]
    skip_details: list[str]
    bytes_read: int


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


type _Message = _Plan | _Batch | _Done | _Failed


def _produce(
    path: Path,
    name: str,
    job: jobs.ClaimedJob,
    settings: Settings,
    put: Callable[[_Message], bool],
    stop: threading.Event,
) -> None:
    max_bytes = settings.import_max_zip_size_mb * 1024 * 1024
    skipped: Counter[str] = Counter()
    details: list[str] = []
    with ScrobbleSource(path, name=name, max_bytes=max_bytes) as source:
        progress = ImportProgress(
            files_total=len(source.files), bytes_total=source.total, format_detected=format_of(source.files)
        )
        if not put(_Plan(progress, [item.name for item in source.files], len(source.ignored))):
            return
        batch: list[ScrobbleRow] = []
        files_done = 0
        for item in iter_scrobble_rows(
            source,
            user_id=pgproto.UUID(job.user_id.bytes),
            job_id=job.id,
            max_records=settings.import_max_records,
            skipped=skipped,
            skip_details=details,
            stop=stop,
        ):
            if type(item) is tuple:
                batch.append(item)
                if len(batch) >= settings.import_batch_size:
                    if not put(_Batch(batch, source.bytes_read, files_done)):
                        return
                    batch = []
            elif isinstance(item, FileDone):
                files_done += 1
        if stop.is_set():
            return
        if batch and not put(_Batch(batch, source.bytes_read, files_done)):
            return
        put(_Done(dict(skipped), details, source.bytes_read))


async def run_scrobble_import(
    engine: AsyncEngine, settings: Settings, job: jobs.ClaimedJob, *, progress_callback: ProgressCallback | None = None
) -> ImportResult:
    """Import the scrobbles of a claimed job. Raises `ImportRejected` (or a database error) on failure; the
    caller records the outcome, as for `pipeline.run_import`."""
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[_Message] = asyncio.Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()
    name = job.original_filename or job.storage_path.name

    def put(message: _Message) -> bool:
        future = asyncio.run_coroutine_threadsafe(queue.put(message), loop)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                future.result(timeout=0.5)
                return True
        future.cancel()
        return False

    def produce() -> None:
        try:
            _produce(job.storage_path, name, job, settings, put, stop)
        except BaseException as error:  # handed to the loader, which ends the job with it
            put(_Failed(error))

    thread = threading.Thread(target=produce, name=f"scrobble-parse-{job.id}", daemon=True)
    result = ImportResult(progress=ImportProgress())
    progress = result.progress
    rows_landed = 0
    async with engine.connect() as sa_connection:
        raw = await sa_connection.get_raw_connection()
        connection: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
        loader = _Loader(connection, job)
        thread.start()
        try:
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=_HEARTBEAT_SECONDS)
                except TimeoutError:
                    await jobs.heartbeat(engine, job.id)
                    continue
                if isinstance(message, _Plan):
                    result.progress = progress = message.progress
                    result.files = message.files
                    result.files_ignored = message.ignored
                    await jobs.set_format(engine, job.id, progress.format_detected)
                elif isinstance(message, _Batch):
                    inserted = await loader.load(message.rows)
                    rows_landed += len(message.rows)
                    progress.inserted += inserted
                    progress.duplicates += len(message.rows) - inserted
                    progress.records_read = rows_landed
                    progress.bytes_read = message.bytes_read
                    progress.files_done = message.files_done
                elif isinstance(message, _Done):
                    result.skipped = message.skipped
                    result.skip_details = message.skip_details
                    progress.records_read = rows_landed + sum(message.skipped.values())
                    progress.bytes_read = message.bytes_read
                    progress.files_done = progress.files_total
                    break
                else:
                    raise message.error
                if progress_callback is not None:
                    progress_callback(progress)
        except BaseException:
            stop.set()
            await asyncio.to_thread(thread.join)
            with contextlib.suppress(Exception):
                await sa_connection.invalidate()
            raise
        stop.set()
        await asyncio.to_thread(thread.join)
        await connection.execute("DROP TABLE IF EXISTS scrobble_stage")
    if rows_landed == 0:
        raise nothing_readable(name, progress.records_read, result.skip_details)
    if progress_callback is not None:
        progress_callback(progress)
    result.seconds = time.monotonic() - started
    return result
