"""What the parse thread runs (`parse_thread`): read an export, normalise its records and cut batches.

`produce_export` (Spotify ZIP, already planned by `pipeline`) and `produce_scrobbles` (ListenBrainz / Last.fm)
`put` a `Plan`, then `Batch`es of IMPORT_BATCH_SIZE rows, then `Done`; `put` returning False or `stop` set
means the import is being stopped. `iter_scrobble_rows` is shared with the preview.

Kept apart from the pipelines (which hold the database side: targets, loading, the job) so that the parsing
side of an import is one module, free of SQLAlchemy and settings.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from asyncpg.pgproto import pgproto

from core.play_time import latest_allowed
from ingest.imports.archive import ArchivePlan, iter_member_records, open_archive
from ingest.imports.errors import ImportRejected
from ingest.imports.formats import format_detected, is_extended
from ingest.imports.normalize import Normalizer, Row, play_type
from ingest.imports.parse_thread import Batch, Done, Plan, Put, StopFlag
from ingest.imports.results import ImportProgress
from ingest.imports.scrobble_formats import rows_of, source_of
from ingest.imports.scrobbles import NameKeys, ScrobbleBuilder, ScrobbleRow
from ingest.imports.sources import ScrobbleFile, ScrobbleSource


def produce_export(
    put: Put,
    stop: StopFlag,
    path: Path,
    name: str,
    plan: ArchivePlan,
    user_id: uuid.UUID,
    job_id: int,
    *,
    max_zip_bytes: int,
    max_records: int,
    batch_size: int,
    store_optional: bool,
    parser: str,
) -> None:
    """Read the planned members of the ZIP and `put` its batches (on the parse thread); False from `put`
    or `stop` set: the import is being stopped."""
    with open_archive(path, max_zip_bytes=max_zip_bytes, name=name) as archive:
        progress = ImportProgress(
            files_total=len(plan.members),
            bytes_total=plan.total_uncompressed,
            format_detected=format_detected(member.kind for member in plan.members),
        )
        if not put(Plan(progress, [member.name for member in plan.members], len(plan.ignored))):
            return
        skipped: Counter[str] = Counter()
        extended_type = play_type(store_optional)
        # asyncpg's own UUID type (a uuid.UUID) is encoded by COPY without a round trip through `.bytes`:
        # ~0.4 µs less per row.
        user = pgproto.UUID(user_id.bytes)
        batch: list[Row] = []
        records = 0
        latest = latest_allowed()  # one bound for the whole import
        skip_details: list[str] = []
        for member in plan.members:
            normalize = Normalizer(
                user_id=user,
                import_job_id=job_id,
                member=member.name,
                kind=member.kind,
                store_optional=store_optional,
                latest=latest,
                skip_details=skip_details,  # shared: at most MAX_SKIP_DETAILS for the whole import
            ).normalize
            member_records = iter_member_records(
                archive,
                member,
                plan,
                parser=parser,
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
                        if not put(Batch(batch, records, plan.bytes_read, plan.members_done)):
                            return
                        batch = []
                else:
                    skipped[str(row)] += 1
                if not records & 1023 and stop.is_set():  # skipped records send no batch: look now and then
                    return
        if batch and not put(Batch(batch, records, plan.bytes_read, plan.members_done)):
            return
        if records == 0:
            raise ImportRejected(
                "the history files in the ZIP hold no plays at all ("
                + ", ".join(member.name for member in plan.members[:5])
                + "); request a new export from Spotify once you have listening history",
                reason="empty_export",
            )
        put(Done(dict(skipped), skip_details, records, plan.bytes_read))


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
    stop: StopFlag | None = None,
) -> Iterator[list[ScrobbleRow] | FileDone]:
    """The rows of every file, a list at a time (skips counted in `skipped`, described in `skip_details`), a
    `FileDone` after each file. Raises `ImportRejected` for a file that cannot be read or past
    IMPORT_MAX_RECORDS."""
    latest = latest_allowed()
    records = 0
    names = NameKeys()  # one cache for the whole import: the same songs recur in every file
    for item in source.files:
        build = ScrobbleBuilder(
            user_id=user_id,
            import_job_id=job_id,
            source=source_of(item.kind),
            member=item.name,
            latest=latest,
            skip_details=skip_details,
            names=names,
        )
        in_file = 0
        with source.open(item) as reader:
            for first, chunk in rows_of(item.kind, reader, build):
                count = len(chunk)
                if records + count > max_records:
                    index = first + max_records - records  # the first record past the cap
                    raise ImportRejected(
                        f"the export holds more than {max_records:,} records (IMPORT_MAX_RECORDS; reached in "
                        f"{item.name}, record {index + 1}); nothing was kept. Raise IMPORT_MAX_RECORDS or split it",
                        reason="too_many_records",
                        member=item.name,
                        record=index + 1,
                    )
                records += count
                in_file += count
                rows = [row for row in chunk if type(row) is tuple]
                if len(rows) < count:
                    skipped.update(row for row in chunk if type(row) is str)
                if rows:
                    yield rows
                if stop is not None and stop.is_set():
                    return
        yield FileDone(item, in_file)


def produce_scrobbles(
    put: Put,
    stop: StopFlag,
    path: Path,
    name: str,
    user_id: uuid.UUID,
    job_id: int,
    *,
    max_bytes: int,
    max_records: int,
    batch_size: int,
) -> None:
    """Read the scrobble files and `put` their batches (on the parse thread); False from `put` or `stop`
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
            if type(item) is list:
                batch += item
                rows += len(item)
                while len(batch) >= batch_size:
                    full, batch = batch[:batch_size], batch[batch_size:]
                    if not put(Batch(full, rows + skipped.total(), source.bytes_read, files_done)):
                        return
            elif isinstance(item, FileDone):
                files_done += 1
        if stop.is_set():
            return
        if batch and not put(Batch(batch, rows + skipped.total(), source.bytes_read, files_done)):
            return
        put(Done(dict(skipped), details, rows + skipped.total(), source.bytes_read))
