"""Run one claimed import: parse on a thread while the previous batch is COPYed and committed.

Parsing (msgspec or the standard library, see `jsonstream`; plus normalisation: CPU in this process) and
loading (COPY + INSERT … ON CONFLICT, CPU in PostgreSQL) overlap: a producer thread fills a small bounded queue
with batches of IMPORT_BATCH_SIZE rows and the event loop loads them, one transaction per batch. Each batch
transaction also moves the job's progress (records ingested, earliest/latest play, heartbeat), so what
`import_jobs` says is always what is committed.

Loading a batch (`_Loader`), set-based: one round trip locks the user and asks whether any stored row falls in
the batch's key range (keys start with the play's time); a batch of distinct keys in an empty range is
`COPY`ed (asyncpg, binary) straight into `raw.export_records`, any other is `COPY`ed into a session temp table
and landed with `INSERT … ON CONFLICT (user_id, record_key) DO NOTHING`. Tracks without a Spotify URI are
registered in `raw.tracks` with `source = 'import_zip'` in the statement that moves the job row. Batches commit
without waiting for the disk (see `_run`). Memory is bounded by the queue (two batches waiting, one loading),
whatever the size of the export. The garbage collector and the GIL's switch interval are tuned meanwhile
(`_import_tuning`).

Atomicity: each batch is committed, so progress is real; a failed import is rolled back as a whole by
`jobs.finish_error` (every row of the job, by `import_job_id`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import asyncpg
from asyncpg.pgproto import pgproto
from sqlalchemy.ext.asyncio import AsyncEngine

from core.play_time import latest_allowed
from core.settings import Settings
from ingest.imports import jobs
from ingest.imports.archive import iter_member_records, open_archive, plan_archive
from ingest.imports.errors import ImportRejected
from ingest.imports.formats import format_detected, is_extended
from ingest.imports.normalize import COLUMNS, Normalizer, Row, play_type

logger = logging.getLogger("ingest.imports")

_QUEUE_DEPTH: Final = 2
_HEARTBEAT_SECONDS: Final = 20.0

_STAGE_DDL: Final = """
CREATE TEMP TABLE IF NOT EXISTS import_stage (
    user_id uuid, import_job_id bigint, record_key text, played_at timestamptz, ms_played integer,
    content_kind text, source_format text, track_id text, track_name text, artist_name text, album_name text,
    spotify_uri text, episode_name text, show_name text, audiobook_title text, audiobook_chapter_title text,
    incognito boolean, extra jsonb, source_file text
)
"""

_COLUMN_LIST: Final = ", ".join(COLUMNS)

_INSERT_FROM_STAGE: Final = f"""
INSERT INTO raw.export_records ({_COLUMN_LIST})
SELECT {_COLUMN_LIST} FROM import_stage
ON CONFLICT (user_id, record_key) DO NOTHING
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
_LOCK_USER_AND_PROBE: Final = """
SELECT
    EXISTS (SELECT 1 FROM app.users WHERE id = $1 FOR KEY SHARE) AS user_exists,
    EXISTS (
        SELECT 1 FROM raw.export_records
        WHERE user_id = $1 AND record_key >= $2 AND record_key <= $3
    ) AS keys_taken
"""

_RECORD_KEY = itemgetter(2)
_PLAYED_AT = itemgetter(3)
_BRIN_INDEX: Final = "raw.ix_export_records_ingested_at"


class _Loader:
    """Lands batches, one transaction each, deciding per batch (set-based, never row by row in Python):
    a batch whose keys are distinct and whose key range holds no stored row is COPYed straight into
    `raw.export_records`; any other (a re-import, an overlapping export, a play repeated in the export) goes
    through the staging table with `INSERT … ON CONFLICT DO NOTHING`. A unique violation on the direct path
    (another writer landed the same key between the probe and the COPY) rolls the whole batch back, and it
    is landed again through the staging table."""

    def __init__(self, connection: asyncpg.Connection, user_id: uuid.UUID, job_id: int, job_run_id: int) -> None:
        self._connection = connection
        self._user_id = user_id
        self._job_id = job_id
        self._job_run_id = job_run_id
        self._staged = False
        self.batches_direct = 0
        self.batches_staged = 0

    async def _via_stage(self, rows: list[Row]) -> int:
        connection = self._connection
        if not self._staged:
            await connection.execute(_STAGE_DDL)
            self._staged = True
        await connection.copy_records_to_table("import_stage", records=rows, columns=COLUMNS)
        status = await connection.execute(_INSERT_FROM_STAGE)
        await connection.execute("TRUNCATE import_stage")
        return int(status.rsplit(" ", 1)[-1])

    async def load(self, rows: list[Row]) -> int:
        keys = list(map(_RECORD_KEY, rows))
        # The same play twice in the batch (an export repeats rows) would break the unique key on the direct path.
        distinct = len(set(keys)) == len(keys)
        try:
            return await self._load(rows, min(keys), max(keys), direct=distinct)
        except asyncpg.UniqueViolationError:
            return await self._load(rows, "", "", direct=False)

    async def _load(self, rows: list[Row], lowest: str, highest: str, *, direct: bool) -> int:
        connection = self._connection
        async with connection.transaction():
            probe = await connection.fetchrow(_LOCK_USER_AND_PROBE, self._user_id, lowest, highest)
            assert probe is not None
            if not probe["user_exists"]:
                raise ImportRejected(
                    "the user was deleted while the import ran; nothing of this import was kept", reason="user_deleted"
                )
            if direct and not probe["keys_taken"]:
                await connection.copy_records_to_table(
                    "export_records", schema_name="raw", records=rows, columns=COLUMNS
                )
                inserted = len(rows)
                self.batches_direct += 1
            else:
                inserted = await self._via_stage(rows)
                self.batches_staged += 1
            local = {row[7]: row for row in rows if row[7] is not None and row[7].startswith("local:")}
            ids = sorted(local)
            claimed = await connection.fetchval(
                _PROGRESS,
                self._job_id,
                inserted,
                min(rows, key=_PLAYED_AT)[3],
                max(rows, key=_PLAYED_AT)[3],
                self._job_run_id,
                ids,
                [local[i][8] for i in ids],
                [local[i][10] for i in ids],
            )
            if claimed is None:
                raise ImportRejected(
                    "the import was taken over by another worker or cancelled while it ran; see the job's latest run",
                    reason="lost_claim",
                )
        return inserted


# While any import of this process runs, two interpreter settings are changed (and restored after the last):
# - Rows are tuples, which the cyclic garbage collector tracks; an import keeps up to three batches of them
#   alive, so with the default threshold a young collection ran every ~2,000 rows and the old generation was
#   rescanned over and over: ~1.3 µs of the importer's ~5 µs per record (bench/README.md). Collections run every
#   this many allocations instead; cyclic garbage of other code is still collected, a little later.
# - The parsing thread holds the GIL while it works; the event loop thread, woken by PostgreSQL's answer
#   (several per batch), waits for the switch interval (5 ms by default) before it gets the GIL back, and the
#   server idles meanwhile. A shorter interval keeps PostgreSQL fed (median +20 % records/s in an A/B on the
#   loaded machine, same CPU per record).
_GC_THRESHOLD_DURING_IMPORT: Final = 100_000
_SWITCH_INTERVAL_DURING_IMPORT: Final = 0.0005
_tuning_lock = threading.Lock()
_tuned_imports = 0
_saved_gc_threshold: tuple[int, ...] = ()
_saved_switch_interval = 0.0


@contextlib.contextmanager
def _import_tuning() -> Iterator[None]:
    """The collector and the switch interval as an import wants them, while any import of this process runs."""
    global _tuned_imports, _saved_gc_threshold, _saved_switch_interval  # process-wide, shared by imports
    with _tuning_lock:
        if _tuned_imports == 0:
            _saved_gc_threshold = gc.get_threshold()
            _saved_switch_interval = sys.getswitchinterval()
            gc.set_threshold(max(_saved_gc_threshold[0], _GC_THRESHOLD_DURING_IMPORT), *_saved_gc_threshold[1:])
            sys.setswitchinterval(min(_saved_switch_interval, _SWITCH_INTERVAL_DURING_IMPORT))
        _tuned_imports += 1
    try:
        yield
    finally:
        with _tuning_lock:
            _tuned_imports -= 1
            if _tuned_imports == 0:
                gc.set_threshold(*_saved_gc_threshold)
                sys.setswitchinterval(_saved_switch_interval)


async def _summarize_ingested_at(connection: asyncpg.Connection) -> None:
    """Summarize the BRIN index on `ingested_at` over the pages just filled: unsummarized block ranges are
    scanned by every watermark query of the transform, and autovacuum (which would summarize them) may be
    off or late. Tens of milliseconds for a million rows; a failure (e.g. not the index's owner) only
    costs the transform some reading, so it is logged, not raised."""
    try:
        await connection.execute(f"SELECT brin_summarize_new_values('{_BRIN_INDEX}'::regclass)")
    except asyncpg.PostgresError as error:
        logger.warning("could not summarize %s after the import: %s", _BRIN_INDEX, error)


@dataclass(slots=True)
class ImportProgress:
    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_read: int = 0
    records_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    format_detected: str | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, self.bytes_read / self.bytes_total) if self.bytes_total else 0.0


type ProgressCallback = Callable[[ImportProgress], None]


@dataclass(slots=True)
class ImportResult:
    progress: ImportProgress
    files: list[str] = field(default_factory=list)
    files_ignored: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # The first skipped records that a person may want to fix (file, record number, why).
    skip_details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Batches COPYed straight into the table / landed through the staging table (ON CONFLICT DO NOTHING).
    batches_direct: int = 0
    batches_staged: int = 0

    def stats(self) -> dict[str, Any]:
        """What goes into `job_runs.stats`."""
        p = self.progress
        return {
            "files_processed": p.files_done,
            "files": self.files,
            "files_ignored": self.files_ignored,
            "records_read": p.records_read,
            "inserted": p.inserted,
            "duplicates": p.duplicates,
            "skipped": self.skipped,
            "skipped_details": self.skip_details,
            "format_detected": p.format_detected,
            "bytes_uncompressed": p.bytes_read,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(p.records_read / self.seconds) if self.seconds > 0 else None,
            "batches_direct": self.batches_direct,
            "batches_staged": self.batches_staged,
        }


@dataclass(frozen=True, slots=True)
class _Plan:
    progress: ImportProgress
    files: list[str]
    ignored: int


@dataclass(frozen=True, slots=True)
class _Batch:
    rows: list[Row]
    records: int
    bytes_read: int
    files_done: int


@dataclass(frozen=True, slots=True)
class _Done:
    skipped: dict[str, int]
    skip_details: list[str]
    records: int
    bytes_read: int


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


type _Message = _Plan | _Batch | _Done | _Failed


class _Producer(threading.Thread):
    """Reads the ZIP and normalises records into batches; hands them to the event loop's queue."""

    def __init__(
        self,
        *,
        path: Path,
        name: str,
        user_id: uuid.UUID,
        job_id: int,
        settings: Settings,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[_Message],
        parser: str,
    ) -> None:
        super().__init__(name=f"import-parse-{job_id}", daemon=True)
        self._path = path
        self._name = name
        self._user_id = user_id
        self._job_id = job_id
        self._settings = settings
        self._loop = loop
        self._queue = queue
        self._parser = parser
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self._produce()
        except BaseException as error:  # handed to the loader, which ends the job with it
            self._put(_Failed(error))

    def _put(self, message: _Message) -> bool:
        future = asyncio.run_coroutine_threadsafe(self._queue.put(message), self._loop)
        while True:
            try:
                future.result(timeout=0.5)
            except concurrent.futures.TimeoutError:
                if self.stop.is_set():
                    future.cancel()
                    return False
                continue
            return True

    def _produce(self) -> None:
        settings = self._settings
        max_zip_bytes = settings.import_max_zip_size_mb * 1024 * 1024
        max_records = settings.import_max_records
        batch_size = settings.import_batch_size
        with open_archive(self._path, max_zip_bytes=max_zip_bytes, name=self._name) as archive:
            plan = plan_archive(archive, max_zip_bytes=max_zip_bytes, name=self._name)
            progress = ImportProgress(
                files_total=len(plan.members),
                bytes_total=plan.total_uncompressed,
                format_detected=format_detected(member.kind for member in plan.members),
            )
            if not self._put(_Plan(progress, [member.name for member in plan.members], len(plan.ignored))):
                return
            skipped: Counter[str] = Counter()
            extended_type = play_type(settings.import_store_optional_fields)
            # asyncpg's own UUID type (a uuid.UUID) is encoded by COPY without a round trip through
            # `.bytes`: ~0.4 µs less per row.
            user_id = pgproto.UUID(self._user_id.bytes)
            batch: list[Row] = []
            records = 0
            latest = latest_allowed()  # one bound for the whole import
            skip_details: list[str] = []
            for member in plan.members:
                normalize = Normalizer(
                    user_id=user_id,
                    import_job_id=self._job_id,
                    member=member.name,
                    kind=member.kind,
                    store_optional=settings.import_store_optional_fields,
                    latest=latest,
                    skip_details=skip_details,  # shared: at most MAX_SKIP_DETAILS for the whole import
                ).normalize
                member_records = iter_member_records(
                    archive,
                    member,
                    plan,
                    parser=self._parser,
                    element_type=extended_type if is_extended(member.kind) else None,
                )
                for index, record in enumerate(member_records):
                    records += 1
                    if records > max_records:
                        raise ImportRejected(
                            f"the export holds more than {max_records:,} records (IMPORT_MAX_RECORDS; reached in "
                            f"{member.name}, record {index + 1}); nothing was kept. Raise IMPORT_MAX_RECORDS or "
                            "split the export",
                            reason="too_many_records",
                            member=member.name,
                            record=index + 1,
                        )
                    row = normalize(record, index)
                    if type(row) is tuple:
                        batch.append(row)
                        if len(batch) >= batch_size:
                            if not self._put(_Batch(batch, records, plan.bytes_read, plan.members_done)):
                                return
                            batch = []
                    else:
                        skipped[str(row)] += 1
                    if not records & 1023 and self.stop.is_set():  # skipped records send no batch: look now and then
                        return
            if batch and not self._put(_Batch(batch, records, plan.bytes_read, plan.members_done)):
                return
            if records == 0:
                raise ImportRejected(
                    "the history files in the ZIP hold no plays at all ("
                    + ", ".join(member.name for member in plan.members[:5])
                    + "); request a new export from Spotify once you have listening history",
                    reason="empty_export",
                )
            self._put(_Done(dict(skipped), skip_details, records, plan.bytes_read))


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
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[_Message] = asyncio.Queue(maxsize=_QUEUE_DEPTH)
    producer = _Producer(
        path=job.storage_path,
        # Messages name the file as the person named it: uploads are stored under a generated name.
        name=job.original_filename or job.storage_path.name,
        user_id=job.user_id,
        job_id=job.id,
        settings=settings,
        loop=loop,
        queue=queue,
        parser=parser,
    )
    result = ImportResult(progress=ImportProgress())
    with _import_tuning():
        await _run(engine, job, producer, queue, result, progress_callback)
    if progress_callback is not None:
        progress_callback(result.progress)
    result.seconds = time.monotonic() - started
    return result


async def _run(
    engine: AsyncEngine,
    job: jobs.ClaimedJob,
    producer: _Producer,
    queue: asyncio.Queue[_Message],
    result: ImportResult,
    progress_callback: ProgressCallback | None,
) -> None:
    """Start the producer and land what it sends until it is done (or fails)."""
    progress = result.progress
    async with engine.connect() as sa_connection:
        raw = await sa_connection.get_raw_connection()
        connection: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
        loader = _Loader(connection, job.user_id, job.id, job.job_run_id)
        # The batches commit without waiting for their WAL to reach the disk: the job's outcome is recorded
        # afterwards by `jobs.finish_success` with an ordinary commit, whose flush takes every earlier WAL
        # record with it, so an import reported done is durable. A crash before that loses at most the
        # last batches together with the progress they moved (same transactions), and the restarted job
        # lands them again.
        await connection.execute("SET synchronous_commit = off")
        producer.start()
        try:
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=_HEARTBEAT_SECONDS)
                except TimeoutError:  # a long stretch without a batch (skipped records): stay claimed
                    await jobs.heartbeat(engine, job.id)
                    continue
                if isinstance(message, _Plan):
                    result.progress = progress = message.progress
                    result.files = message.files
                    result.files_ignored = message.ignored
                    await jobs.set_format(engine, job.id, progress.format_detected)
                elif isinstance(message, _Batch):
                    inserted = await loader.load(message.rows)
                    progress.inserted += inserted
                    progress.duplicates += len(message.rows) - inserted
                    progress.records_read = message.records
                    progress.bytes_read = message.bytes_read
                    progress.files_done = message.files_done
                    result.batches_direct, result.batches_staged = loader.batches_direct, loader.batches_staged
                elif isinstance(message, _Done):
                    result.skipped = message.skipped
                    result.skip_details = message.skip_details
                    progress.records_read = message.records
                    progress.bytes_read = message.bytes_read
                    progress.files_done = progress.files_total
                    break
                else:
                    raise message.error
                if progress_callback is not None:
                    progress_callback(progress)
        except BaseException:
            producer.stop.set()
            await asyncio.to_thread(producer.join)
            # The driver connection may be mid-transaction (a cancellation inside a batch): SQLAlchemy's pool
            # does not know about transactions begun on the raw asyncpg connection, so close it rather than
            # hand it back holding row locks.
            with contextlib.suppress(Exception):
                await sa_connection.invalidate()
            raise
        producer.stop.set()
        await asyncio.to_thread(producer.join)
        await connection.execute("DROP TABLE IF EXISTS import_stage; RESET synchronous_commit")
        await _summarize_ingested_at(connection)
