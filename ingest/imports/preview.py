"""What an import would do, without writing anything: `spotify-mcp import --dry-run PATH` (issue 21).

The file is read exactly as the import reads it (same detection, caps, parsers, normalisation and record keys),
and each record's key is looked up among the user's stored rows, in a READ ONLY transaction: formats found,
records per file, the date range, how many are new and how many already known (per source), how many repeat
inside the file, and how many would be skipped and why. A file the import would refuse raises the same
`ImportRejected`. Memory: the keys seen so far, as 64-bit hashes (~60 MB for a million records).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.play_time import latest_allowed
from core.settings import Settings
from ingest.imports.archive import iter_member_records, open_archive, plan_archive
from ingest.imports.errors import ImportRejected
from ingest.imports.formats import format_detected, is_extended
from ingest.imports.normalize import Normalizer, play_type
from ingest.imports.producers import FileDone, format_of, iter_scrobble_rows
from ingest.imports.scrobble_pipeline import nothing_readable
from ingest.imports.scrobbles import ScrobbleRow, started_at_of, twin_key
from ingest.imports.sources import ScrobbleSource, detect

_BATCH: Final = 10_000
_NO_USER: Final = uuid.UUID(int=0)
SPOTIFY_EXPORT: Final = "spotify_export"

_KNOWN_EXPORT = text(
    "SELECT record_key FROM raw.export_records WHERE user_id = :user_id AND record_key = ANY(CAST(:keys AS text[]))"
)
_KNOWN_SCROBBLES = text(
    "SELECT record_key FROM raw.scrobbles WHERE user_id = :user_id AND record_key = ANY(CAST(:keys AS text[]))"
)


@dataclass(slots=True)
class FilePreview:
    name: str
    format: str
    records: int = 0
    skipped: int = 0
    earliest: datetime | None = None
    latest: datetime | None = None


@dataclass(slots=True)
class SourcePreview:
    source: str  # `spotify_export`, `listenbrainz` or `lastfm`
    new: int = 0
    # Already stored for this user (a re-import, an overlapping export; for scrobbles also the same listen from the
    # other service, same second and names: the import stores it again, the warehouse counts it once).
    known: int = 0
    repeated: int = 0  # the same listen twice in this file
    # Scrobbles only: of the file's listens, how many match a listen already in the user's Spotify history (export
    # or API) by the warehouse's rule (docs/warehouse-contract.md, "Scrobbles"): counted once when they meet.
    in_spotify_history: int | None = None


@dataclass(slots=True)
class ImportPreview:
    name: str
    format_detected: str | None
    files: list[FilePreview]
    ignored: list[str]
    sources: list[SourcePreview]
    skipped: dict[str, int]
    skip_details: list[str]
    earliest: datetime | None = None
    latest: datetime | None = None
    records: int = 0
    times_are: str = "end"  # Spotify marks the end of a listen, scrobbles its start

    def as_json(self) -> dict[str, Any]:
        """JSON-ready (times as ISO 8601 text): for `import --dry-run --json` and for storing a preview."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=lambda value: value.isoformat()))  # type: ignore[no-any-return]


@dataclass(slots=True)
class _Chunk:
    """Rows of one file (keys and times), from the parsing thread."""

    file: str
    source: str
    keys: list[str] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    # Scrobbles: artist, track, Spotify id and length of each row (for the match against Spotify listens).
    artists: list[str] = field(default_factory=list)
    tracks: list[str] = field(default_factory=list)
    track_ids: list[str | None] = field(default_factory=list)
    durations: list[int | None] = field(default_factory=list)


type _Item = _Chunk | FileDone | tuple[str, int]


def _spotify_items(
    path: Path, name: str, settings: Settings, skipped: Counter[str], details: list[str]
) -> Iterator[_Item]:
    max_bytes = settings.import_max_zip_size_mb * 1024 * 1024
    latest = latest_allowed()
    with open_archive(path, max_zip_bytes=max_bytes, name=name) as archive:
        plan = plan_archive(archive, max_zip_bytes=max_bytes, name=name)
        records = 0
        for member in plan.members:
            normalize = Normalizer(
                user_id=_NO_USER,
                import_job_id=0,
                member=member.name,
                kind=member.kind,
                store_optional=False,
                latest=latest,
                skip_details=details,
            ).normalize
            chunk = _Chunk(member.name, SPOTIFY_EXPORT)
            element_type = play_type(False) if is_extended(member.kind) else None
            for index, record in enumerate(iter_member_records(archive, member, plan, element_type=element_type)):
                records += 1
                if records > settings.import_max_records:  # what the import refuses (pipeline), the preview says
                    raise ImportRejected(
                        f"the export holds more than {settings.import_max_records:,} records (IMPORT_MAX_RECORDS; "
                        f"reached in {member.name}, record {index + 1}). Raise IMPORT_MAX_RECORDS or split the export",
                        reason="too_many_records",
                        member=member.name,
                        record=index + 1,
                    )
                row = normalize(record, index)
                if type(row) is tuple:
                    chunk.keys.append(row[2])
                    chunk.times.append(started_at_of(row[3]))
                    if len(chunk.keys) >= _BATCH:
                        yield chunk
                        chunk = _Chunk(member.name, SPOTIFY_EXPORT)
                else:
                    skipped[str(row)] += 1
                    yield (member.name, 1)
            yield chunk  # the rest of the member (possibly no rows: the file is still listed)


def _scrobble_items(
    path: Path, name: str, settings: Settings, skipped: Counter[str], details: list[str]
) -> Iterator[_Item]:
    max_bytes = settings.import_max_zip_size_mb * 1024 * 1024
    with ScrobbleSource(path, name=name, max_bytes=max_bytes) as source:
        by_file: dict[str, _Chunk] = {}
        before = 0
        for item in iter_scrobble_rows(
            source,
            user_id=_NO_USER,
            job_id=0,
            max_records=settings.import_max_records,
            skipped=skipped,
            skip_details=details,
        ):
            if isinstance(item, FileDone):
                chunk = by_file.pop(item.file.name, None)
                if chunk is not None:
                    yield chunk
                now = sum(skipped.values())
                if now > before:
                    yield (item.file.name, now - before)
                before = now
                yield item
                continue
            rows: list[ScrobbleRow] = item
            for row in rows:
                chunk = by_file.setdefault(row[13], _Chunk(row[13], row[3]))
                chunk.keys.append(row[2])
                chunk.times.append(started_at_of(row[4]))
                chunk.artists.append(row[5])
                chunk.tracks.append(row[6])
                chunk.track_ids.append(row[8])
                chunk.durations.append(row[12])
                if len(chunk.keys) >= _BATCH:
                    yield by_file.pop(row[13])


def _take(items: Iterator[_Item], limit: int = 64) -> list[_Item]:
    taken: list[_Item] = []
    for item in items:
        taken.append(item)
        if isinstance(item, _Chunk) or len(taken) >= limit:
            break
    return taken


# A scrobble (start) and a Spotify listen (end) of the same track are one listen when the end falls within the
# track's length (10 minutes when unknown) plus the tolerance after the start; names compared case-insensitively
# here (the warehouse also folds accents and punctuation, `match_name_key`).
_IN_SPOTIFY = text(
    """
    SELECT count(*) FROM unnest(CAST(:starts AS timestamptz[]), CAST(:artists AS text[]), CAST(:tracks AS text[]),
                                CAST(:ids AS text[]), CAST(:durations AS int[]))
        AS s (started_at, artist, track, track_id, duration_ms)
    WHERE EXISTS (
        SELECT 1 FROM raw.export_records e
        WHERE e.user_id = :user_id AND e.content_kind = 'track'
          AND e.played_at >= s.started_at
          AND e.played_at <= s.started_at + make_interval(secs => coalesce(s.duration_ms, 600000) / 1000.0 + :tolerance)
          AND (e.track_id = s.track_id
               OR (lower(e.artist_name) = lower(s.artist) AND lower(e.track_name) = lower(s.track))))
       OR EXISTS (
        SELECT 1 FROM raw.api_plays a
        WHERE a.user_id = :user_id
          AND a.played_at >= s.started_at
          AND a.played_at <= s.started_at + make_interval(secs => coalesce(s.duration_ms, 600000) / 1000.0 + :tolerance)
          AND (a.track_id = s.track_id
               OR (lower(a.item -> 'artists' -> 0 ->> 'name') = lower(s.artist)
                   AND lower(a.item ->> 'name') = lower(s.track))))
    """
)
# dbt's `dedupe_tolerance_seconds` default (transform/dbt/dbt_project.yml).
_TOLERANCE_SECONDS: Final = 30


async def _in_spotify(connection: AsyncConnection, user_id: uuid.UUID | None, chunk: _Chunk, picked: list[int]) -> int:
    if user_id is None or not picked:
        return 0
    params = {
        "user_id": user_id,
        "tolerance": _TOLERANCE_SECONDS,
        "starts": [chunk.times[i] for i in picked],
        "artists": [chunk.artists[i] for i in picked],
        "tracks": [chunk.tracks[i] for i in picked],
        "ids": [chunk.track_ids[i] for i in picked],
        "durations": [chunk.durations[i] for i in picked],
    }
    return int((await connection.execute(_IN_SPOTIFY, params)).scalar_one())


async def _known(connection: AsyncConnection, source: str, user_id: uuid.UUID | None, keys: list[str]) -> set[str]:
    """The keys of `keys` whose listen is stored: a scrobble's also when its twin (the other service's key) is."""
    if user_id is None or not keys:
        return set()
    if source == SPOTIFY_EXPORT:
        return {row[0] for row in await connection.execute(_KNOWN_EXPORT, {"user_id": user_id, "keys": keys})}
    twins = [twin_key(key) for key in keys]
    stored = {row[0] for row in await connection.execute(_KNOWN_SCROBBLES, {"user_id": user_id, "keys": keys + twins})}
    return {key for key, twin in zip(keys, twins, strict=True) if key in stored or twin in stored}


async def preview_import(
    engine: AsyncEngine, settings: Settings, path: Path, *, name: str | None = None, user_id: uuid.UUID | None
) -> ImportPreview:
    """What importing `path` for `user_id` (None: a user with nothing stored yet) would do; writes nothing.
    Raises `ImportRejected` as the import would."""
    name = name or path.name
    max_bytes = settings.import_max_zip_size_mb * 1024 * 1024
    kind = await asyncio.to_thread(detect, path, name=name, max_bytes=max_bytes)
    skipped: Counter[str] = Counter()
    details: list[str] = []
    items = (
        _scrobble_items(path, name, settings, skipped, details)
        if kind == "scrobbles"
        else _spotify_items(path, name, settings, skipped, details)
    )
    files: dict[str, FilePreview] = {}
    sources: dict[str, SourcePreview] = {}
    seen: set[int] = set()
    async with engine.connect() as connection:
        await connection.execute(text("SET TRANSACTION READ ONLY"))
        while batch := await asyncio.to_thread(_take, items):
            for item in batch:
                if isinstance(item, _Chunk):
                    file = files.setdefault(item.file, FilePreview(item.file, item.source))
                    if not item.keys:
                        continue
                    file.records += len(item.keys)
                    low, high = min(item.times), max(item.times)
                    file.earliest = low if file.earliest is None else min(file.earliest, low)
                    file.latest = high if file.latest is None else max(file.latest, high)
                    counts = sources.setdefault(item.source, SourcePreview(item.source))
                    known = await _known(connection, item.source, user_id, item.keys)
                    first_seen: list[int] = []
                    # A scrobble's listen is one whichever service it came from (the key less its service mark).
                    cut = None if item.source == SPOTIFY_EXPORT else -3
                    for position, key in enumerate(item.keys):
                        hashed = hash(key[:cut])
                        if hashed in seen:
                            counts.repeated += 1
                            continue
                        seen.add(hashed)
                        first_seen.append(position)
                        if key in known:
                            counts.known += 1
                        else:
                            counts.new += 1
                    if item.source != SPOTIFY_EXPORT:
                        matched = await _in_spotify(connection, user_id, item, first_seen)
                        counts.in_spotify_history = (counts.in_spotify_history or 0) + matched
                elif isinstance(item, FileDone):
                    files.setdefault(item.file.name, FilePreview(item.file.name, item.file.kind.value))
                else:
                    file_name, count = item
                    files.setdefault(file_name, FilePreview(file_name, SPOTIFY_EXPORT)).skipped += count
        await connection.rollback()
    # What the import would refuse at its end, the preview refuses too (`pipeline`, `scrobble_pipeline`).
    if not any(source.new or source.known or source.repeated for source in sources.values()):
        if kind == "scrobbles":
            raise nothing_readable(name, sum(skipped.values()), details)
        if not skipped:
            raise ImportRejected(
                f"the history files in {name} hold no plays at all; request a new export from Spotify once you "
                "have listening history",
                reason="empty_export",
            )
    listed = list(files.values())
    for file in listed:
        file.records += file.skipped
    if kind == "scrobbles":
        with ScrobbleSource(path, name=name, max_bytes=max_bytes) as source:
            detected, ignored_names = format_of(source.files), source.ignored
            kinds = {item.name: item.kind.value for item in source.files}
    else:
        with open_archive(path, max_zip_bytes=max_bytes, name=name) as archive:
            plan = plan_archive(archive, max_zip_bytes=max_bytes, name=name)
            detected, ignored_names = format_detected(member.kind for member in plan.members), plan.ignored
            kinds = {member.name: member.kind.value for member in plan.members}
    for file in listed:
        file.format = kinds.get(file.name, file.format)
    times = [t for file in listed for t in (file.earliest, file.latest) if t is not None]
    return ImportPreview(
        name=name,
        format_detected=detected,
        files=sorted(listed, key=lambda file: file.name),
        ignored=ignored_names,
        sources=sorted(sources.values(), key=lambda source: source.source),
        skipped=dict(skipped),
        skip_details=details,
        earliest=min(times) if times else None,
        latest=max(times) if times else None,
        records=sum(file.records for file in listed),
        times_are="start" if kind == "scrobbles" else "end",
    )
