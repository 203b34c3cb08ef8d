"""Land batches of rows, one transaction each, for both pipelines (`pipeline`: Spotify exports into
`raw.export_records`; `scrobble_pipeline`: scrobbles into `raw.scrobbles`); a `Target` says where and how.

Per batch, set-based (never row by row in Python): one round trip locks the user and asks whether any stored
row falls in the batch's key range (keys start with the play's time, so on a first import that is an empty
range of the unique index); a batch of distinct keys in an empty range is `COPY`ed (asyncpg, binary) straight
into the table, any other (a re-import, an overlapping export, a play repeated in the export) is `COPY`ed into
a session temp table and landed with `INSERT … ON CONFLICT (user_id, record_key) DO NOTHING`. A unique
violation on the direct path (another writer landed the same key between the probe and the COPY) rolls the
batch back, and it is landed again through the staging table. The same transaction moves the job's progress
(records ingested, earliest/latest play, heartbeat), so what `import_jobs` says is always what is committed.

`land` is the event loop's side of a run: it starts the parse thread (`parse_thread`), loads each batch it
sends, reports progress and heartbeats, and on any failure or cancellation stops the thread and closes the
connection (which may be mid-transaction). Batches commit without waiting for the disk (see `land`).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Final

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.imports import jobs
from ingest.imports.errors import ImportRejected
from ingest.imports.parse_thread import Batch, Done, Failed, ParseThread, Plan
from ingest.imports.results import ImportResult, ProgressCallback

logger = logging.getLogger("ingest.imports")

_HEARTBEAT_SECONDS: Final = 20.0

type Rows = Sequence[tuple[Any, ...]]


def _no_extra(rows: Rows) -> tuple[object, ...]:
    return ()


def lock_user_and_probe(table: str) -> str:
    """A Target's `probe` for `table` (schema-qualified): the user locked FOR KEY SHARE, and whether any key of
    the batch's range is stored already, in one round trip (why: ingest.imports.pipeline)."""
    return f"""
SELECT
    EXISTS (SELECT 1 FROM app.users WHERE id = $1 FOR KEY SHARE) AS user_exists,
    EXISTS (
        SELECT 1 FROM {table}
        WHERE user_id = $1 AND record_key >= $2 AND record_key <= $3
    ) AS keys_taken
"""


async def _exchange_micros(connection: asyncpg.Connection) -> None:
    """`timestamptz` exchanged as PostgreSQL's microseconds since 2000-01-01 UTC, for targets whose time column
    holds them (`Target.micros_times`): set on the import's connection while it lands, reset after. Binary
    `timestamptz` is an int64 of those microseconds, the same bytes as `int8`, so asyncpg's C `int8` codec
    encodes it: no Python call per row (the tuple codec this replaces called an encoder for every row)."""
    await connection.set_builtin_type_codec("timestamptz", schema="pg_catalog", codec_name="int8", format="binary")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a pipeline's rows land. `probe`: $1 user, $2/$3 lowest/highest key → `user_exists` (the user
    locked FOR KEY SHARE) and `keys_taken`. `progress`: $1 job, $2 rows inserted, $3/$4 earliest/latest time,
    $5 job run, then `extra(rows)`; returns the job's id while this run still holds the job."""

    schema: str
    table: str
    columns: tuple[str, ...]
    stage: str  # the session's temp staging table
    stage_columns: str  # its column definitions
    key_index: int  # of `record_key` in a row
    time_index: int  # of the play's time in a row
    probe: str
    progress: str
    extra: Callable[[Rows], tuple[object, ...]] = _no_extra
    brin_index: str | None = None  # summarized after the import (see `_summarize`)
    # The time column holds microseconds since 2000-01-01 UTC, not datetimes (`_exchange_micros`).
    micros_times: bool = False
    insert_from_stage: str = field(init=False)

    def __post_init__(self) -> None:
        columns = ", ".join(self.columns)
        insert = (
            f"INSERT INTO {self.schema}.{self.table} ({columns}) SELECT {columns} FROM {self.stage} "
            "ON CONFLICT (user_id, record_key) DO NOTHING"
        )
        object.__setattr__(self, "insert_from_stage", insert)


class BatchLoader:
    """Lands batches for one job on one connection (see the module's docstring)."""

    def __init__(self, connection: asyncpg.Connection, target: Target, job: jobs.ClaimedJob) -> None:
        self._connection = connection
        self._target = target
        self._user_id: uuid.UUID = job.user_id
        self._job_id = job.id
        self._job_run_id = job.job_run_id
        self._staged = False
        self.batches_direct = 0
        self.batches_staged = 0

    async def load(self, rows: Rows) -> int:
        """Land `rows` in one transaction; the number inserted (the rest were stored already)."""
        keys = list(map(itemgetter(self._target.key_index), rows))  # map + itemgetter: no Python frame per row
        # The same play twice in the batch (an export repeats rows) would break the unique key on the direct path.
        distinct = len(set(keys)) == len(keys)
        try:
            return await self._load(rows, min(keys), max(keys), direct=distinct)
        except asyncpg.UniqueViolationError:
            return await self._load(rows, "", "", direct=False)

    async def _via_stage(self, rows: Rows) -> int:
        connection, target = self._connection, self._target
        if not self._staged:
            await connection.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target.stage} ({target.stage_columns}) ON COMMIT DELETE ROWS"
            )
            self._staged = True
        await connection.copy_records_to_table(target.stage, records=rows, columns=target.columns)
        status = await connection.execute(target.insert_from_stage)
        return int(status.rsplit(" ", 1)[-1])

    async def _load(self, rows: Rows, lowest: str, highest: str, *, direct: bool) -> int:
        connection, target = self._connection, self._target
        async with connection.transaction():
            probe = await connection.fetchrow(target.probe, self._user_id, lowest, highest)
            assert probe is not None
            if not probe["user_exists"]:
                raise ImportRejected(
                    "the user was deleted while the import ran; nothing of this import was kept", reason="user_deleted"
                )
            if direct and not probe["keys_taken"]:
                await connection.copy_records_to_table(
                    target.table, schema_name=target.schema, records=rows, columns=target.columns
                )
                inserted = len(rows)
                self.batches_direct += 1
            else:
                inserted = await self._via_stage(rows)
                self.batches_staged += 1
            times = list(map(itemgetter(target.time_index), rows))
            claimed = await connection.fetchval(
                target.progress,
                self._job_id,
                inserted,
                min(times),
                max(times),
                self._job_run_id,
                *target.extra(rows),  # noqa: S610 (not Django: the target's extra parameters)
            )
            if claimed is None:
                raise ImportRejected(
                    "the import was taken over by another worker or cancelled while it ran; see the job's latest run",
                    reason="lost_claim",
                )
        return inserted


async def _summarize(connection: asyncpg.Connection, index: str) -> None:
    """Summarize the BRIN index on `ingested_at` over the pages just filled: unsummarized block ranges are
    scanned by every watermark query of the transform, and autovacuum (which would summarize them) may be
    off or late. Tens of milliseconds for a million rows; a failure (e.g. not the index's owner) only
    costs the transform some reading, so it is logged, not raised."""
    try:
        await connection.execute(f"SELECT brin_summarize_new_values('{index}'::regclass)")
    except asyncpg.PostgresError as error:
        logger.warning("could not summarize %s after the import: %s", index, error)


async def land(
    engine: AsyncEngine,
    job: jobs.ClaimedJob,
    target: Target,
    parser: ParseThread,
    result: ImportResult,
    progress_callback: ProgressCallback | None,
) -> None:
    """Start the parse thread and land what it sends until it is done (or fails); fills in `result`."""
    progress = result.progress
    async with engine.connect() as sa_connection:
        raw = await sa_connection.get_raw_connection()
        connection: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
        loader = BatchLoader(connection, target, job)
        # The batches commit without waiting for their WAL to reach the disk: the job's outcome is recorded
        # afterwards by `jobs.finish_success` with an ordinary commit, whose flush takes every earlier WAL
        # record with it, so an import reported done is durable. A crash before that loses at most the
        # last batches together with the progress they moved (same transactions), and the restarted job
        # lands them again.
        await connection.execute("SET synchronous_commit = off")
        if target.micros_times:
            await _exchange_micros(connection)
        try:
            parser.start()
            while True:
                try:
                    message = await parser.get(timeout=_HEARTBEAT_SECONDS)
                except TimeoutError:  # a long stretch without a batch (skipped records): stay claimed
                    await jobs.heartbeat(engine, job.id)
                    continue
                if isinstance(message, Plan):
                    result.progress = progress = message.progress
                    result.files = message.files
                    result.files_ignored = message.ignored
                    await jobs.set_format(engine, job.id, progress.format_detected)
                elif isinstance(message, Batch):
                    inserted = await loader.load(message.rows)
                    progress.inserted += inserted
                    progress.duplicates += len(message.rows) - inserted
                    progress.records_read = message.records
                    progress.bytes_read = message.bytes_read
                    progress.files_done = message.files_done
                    result.batches_direct, result.batches_staged = loader.batches_direct, loader.batches_staged
                elif isinstance(message, Done):
                    result.skipped = message.skipped
                    result.skip_details = message.skip_details
                    progress.records_read = message.records
                    progress.bytes_read = message.bytes_read
                    progress.files_done = progress.files_total
                    break
                elif isinstance(message, Failed):
                    raise message.error
                if progress_callback is not None:
                    progress_callback(progress)
        except BaseException:
            await parser.stop()
            # The driver connection may be mid-transaction (a cancellation inside a batch): SQLAlchemy's pool
            # does not know about transactions begun on the raw asyncpg connection, so close it rather than
            # hand it back holding row locks.
            with contextlib.suppress(Exception):
                await sa_connection.invalidate()
            raise
        await parser.stop()
        if target.micros_times:  # the connection goes back to the pool as it came
            await connection.reset_type_codec("timestamptz", schema="pg_catalog")
        await connection.execute(f"DROP TABLE IF EXISTS {target.stage}; RESET synchronous_commit")
        if target.brin_index is not None:
            await _summarize(connection, target.brin_index)
