"""ListenBrainz and Last.fm export files: which a file is, and its records as `raw.scrobbles` rows, streamed.

Formats (told by the file's first bytes; the name is a hint):
- ListenBrainz export ZIP: `listens/<year>/<month>.jsonl`, one listen per line (`listened_at` epoch seconds,
  `track_metadata` with `artist_name`, `track_name`, `release_name`, `additional_info` incl. `spotify_id`,
  `duration_ms`/`duration`, MusicBrainz ids, and `mbid_mapping`); older exports are one JSON array of listens.
  `user.json` and `feedback.jsonl` are not read.
- Last.fm scrobbles as the usual export tools write them: `scrobbles-*.csv` with a header (`uts`, `utc_time`,
  `artist`, `artist_mbid`, `album`, `album_mbid`, `track`, `track_mbid`; other spellings of those columns
  too), a headerless `artist,album,track,date` CSV (`31 Jan 2021 12:34`, lastfm-to-csv), or `scrobbles-*.json`:
  the API's track objects (`artist.#text`, `name`, `album.#text`, `date.uts`, `mbid`), as one array or an array
  of pages.

Every record is read on its own: a record that cannot be a listen is skipped and named (`scrobbles`); a file
that is not what it claims (broken JSON array, not a CSV of scrobbles) is refused with its name and position.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import msgspec

from ingest.imports.errors import ImportRejected
from ingest.imports.formats import basename, is_junk
from ingest.imports.jsonstream import JsonStreamError, NotAnArray, Prefixed, Reader, iter_array, iter_array_typed
from ingest.imports.scrobbles import (
    SKIP_BAD_RECORD,
    SKIP_NOW_PLAYING,
    BadRecord,
    ScrobbleBuilder,
    ScrobbleRow,
    duration_ms_of,
    epoch_of,
    mbid_of,
    spotify_id_of,
)


class ScrobbleKind(StrEnum):
    listenbrainz_jsonl = "listenbrainz_jsonl"  # listens/<year>/<month>.jsonl
    listenbrainz_json = "listenbrainz_json"  # older ListenBrainz export: one JSON array of listens
    lastfm_csv = "lastfm_csv"  # scrobbles-*.csv
    lastfm_json = "lastfm_json"  # scrobbles-*.json


def source_of(kind: ScrobbleKind) -> str:
    """`raw.scrobbles.source` (and `import_jobs.format_detected`) of a kind."""
    return "listenbrainz" if kind in (ScrobbleKind.listenbrainz_jsonl, ScrobbleKind.listenbrainz_json) else "lastfm"


EXPECTED_SCROBBLES: Final = (
    "a ListenBrainz export (ZIP with listens/<year>/<month>.jsonl, or its older single JSON file), "
    "Last.fm scrobbles as CSV (scrobbles-*.csv: uts/utc_time, artist, album, track columns, "
    "or artist,album,track,date) "
    "or JSON (scrobbles-*.json with date.uts)"
)
# Files of a ListenBrainz export that are deliberately not read.
LISTENBRAINZ_SIDE_FILES: Final = frozenset({"user.json", "feedback.jsonl"})


# --- detection ---------------------------------------------------------------------------------------


_TIME_COLUMNS: Final = ("uts", "timestamp", "utc_time", "date", "time", "played_at", "listened_at", "scrobble_time")
_ARTIST_COLUMNS: Final = ("artist", "artist_name", "artistname")
_TRACK_COLUMNS: Final = ("track", "track_name", "trackname", "title", "name", "song")
_ALBUM_COLUMNS: Final = ("album", "album_name", "albumname", "release", "release_name")


def _first_json_value(head: bytes) -> object:
    """The first element of the JSON array `head` starts (the first element of a nested page), or None."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    inner = stripped[1:].lstrip(b" \t\r\n")
    if stripped.startswith(b"[") and inner.startswith(b"["):
        stripped = inner  # an array of pages: the first page may be longer than `head`; read into it
    try:
        first = next(iter_array(Prefixed(stripped, _Nothing())), None)
    except JsonStreamError:
        return None
    return first


class _Nothing:
    def read(self, size: int = -1, /) -> bytes:
        return b""


def _csv_kind(head: bytes) -> ScrobbleKind | None:
    text = head.decode("utf-8-sig", "replace")
    line = text.split("\n", 1)[0].strip("\r")
    try:
        fields = next(csv.reader([line]))
    except csv.Error, StopIteration:
        return None
    header = [field.strip().lower() for field in fields]
    if _column(header, _ARTIST_COLUMNS) is not None and _column(header, _TRACK_COLUMNS) is not None:
        return ScrobbleKind.lastfm_csv if _column(header, _TIME_COLUMNS) is not None else None
    if len(fields) == 4 and _text_time(fields[3]) is not None:
        return ScrobbleKind.lastfm_csv
    return None


def kind_of(name: str, head: bytes) -> ScrobbleKind | None:
    """The scrobble format of a file from its name and first bytes (~64 KB), or None."""
    if is_junk(name):
        return None
    base = basename(name).lower()
    if base in LISTENBRAINZ_SIDE_FILES:
        return None
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if base.endswith(".csv"):
        return _csv_kind(head)
    if stripped.startswith(b"{") and (base.endswith(".jsonl") or base.endswith(".json")):
        line = stripped.split(b"\n", 1)[0]
        try:
            first = msgspec.json.decode(line)
        except msgspec.DecodeError:
            return None
        if isinstance(first, dict) and "listened_at" in first and "track_metadata" in first:
            return ScrobbleKind.listenbrainz_jsonl
        return None
    if stripped.startswith(b"[") and base.endswith(".json"):
        first = _first_json_value(head)
        if isinstance(first, dict):
            if "listened_at" in first and "track_metadata" in first:
                return ScrobbleKind.listenbrainz_json
            if "artist" in first and "name" in first and ("date" in first or "@attr" in first):
                return ScrobbleKind.lastfm_json
    return None


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


_TEXT_TIME_FORMATS: Final = ("%d %b %Y, %H:%M", "%d %b %Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


def _text_time(value: str) -> int | None:
    """Epoch seconds of a date-time text as Last.fm tools write it (UTC), or None."""
    value = value.strip()
    for fmt in _TEXT_TIME_FORMATS:
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def _any_time(value: object, field_name: str) -> int:
    """Epoch seconds (or milliseconds), or a date-time text; raises `BadRecord`."""
    if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
        epoch = _text_time(value)
        if epoch is None:
            raise BadRecord(f"`{field_name}` {value!r:.40} is not a date-time")
        return epoch
    return epoch_of(value, field_name)


# --- ListenBrainz -------------------------------------------------------------------------------------


class LBAdditionalInfo(msgspec.Struct, gc=False):
    spotify_id: Any = None
    duration_ms: Any = None
    duration: Any = None
    recording_mbid: Any = None
    release_mbid: Any = None
    artist_mbids: Any = None


class LBMapping(msgspec.Struct, gc=False):
    recording_mbid: Any = None
    release_mbid: Any = None
    artist_mbids: Any = None


class LBTrackMetadata(msgspec.Struct, gc=False):
    artist_name: Any = None
    track_name: Any = None
    release_name: Any = None
    additional_info: LBAdditionalInfo | None = None
    mbid_mapping: LBMapping | None = None


class LBListen(msgspec.Struct, gc=False):
    """What is read of a listen: an allow-list (user name, msid, client and player are never decoded)."""

    listened_at: Any = None
    track_metadata: LBTrackMetadata | None = None


_LB_DECODER: Final = msgspec.json.Decoder(LBListen)


def listen_row(build: ScrobbleBuilder, listen: LBListen, index: int) -> ScrobbleRow | str:
    meta = listen.track_metadata
    if meta is None:
        return build.skip(index, SKIP_BAD_RECORD, "no `track_metadata`")
    info = meta.additional_info
    mapping = meta.mbid_mapping
    spotify_id = recording = release = artist = None
    duration: int | None = None
    if info is not None:
        spotify_id = spotify_id_of(info.spotify_id)
        duration = duration_ms_of(info.duration_ms)
        if duration is None:
            duration = duration_ms_of(info.duration, seconds=True)
        recording, release, artist = (
            mbid_of(info.recording_mbid),
            mbid_of(info.release_mbid),
            mbid_of(info.artist_mbids),
        )
    if mapping is not None:  # ListenBrainz's own matching, when the submitter sent no ids
        recording = recording or mbid_of(mapping.recording_mbid)
        release = release or mbid_of(mapping.release_mbid)
        artist = artist or mbid_of(mapping.artist_mbids)
    return build.row(
        index,
        listen.listened_at,
        "listened_at",
        meta.artist_name,
        meta.track_name,
        meta.release_name,
        spotify_id=spotify_id,
        recording_mbid=recording,
        release_mbid=release,
        artist_mbid=artist,
        duration_ms=duration,
    )


_LINES_CHUNK: Final = 1 << 20
# A listen is < 4 KB; a line longer than this is not one (the rest of it is skipped unread).
MAX_LINE_BYTES: Final = 1 << 20


def _iter_lines(reader: Reader) -> Iterator[tuple[int, bytes]]:
    """(first line number, block of whole lines) of a byte stream; an over-long line is yielded alone."""
    pending = b""
    line_no = 1
    while True:
        more = reader.read(_LINES_CHUNK)
        if not more:
            if pending:
                yield line_no, pending
            return
        pending += more
        cut = pending.rfind(b"\n")
        if cut < 0:
            if len(pending) > MAX_LINE_BYTES:
                yield line_no, pending
                line_no += pending.count(b"\n")
                pending = b""
            continue
        block, pending = pending[: cut + 1], pending[cut + 1 :]
        yield line_no, block
        line_no += block.count(b"\n")


def listenbrainz_jsonl_rows(reader: Reader, build: ScrobbleBuilder) -> Iterator[tuple[int, ScrobbleRow | str]]:
    """(record index, row or skip reason) of a `.jsonl` of listens: a block of lines is decoded in one call;
    a block with a bad line is decoded line by line so that the line is named and the others are kept."""
    for first_line, block in _iter_lines(reader):
        try:
            listens = _LB_DECODER.decode_lines(block)
        except msgspec.DecodeError, ValueError:
            listens = None
        if listens is not None and listens and block.count(b"\n") + (not block.endswith(b"\n")) == len(listens):
            for offset, listen in enumerate(listens):
                index = first_line - 1 + offset
                yield index, listen_row(build, listen, index)
            continue
        for offset, line in enumerate(block.split(b"\n")):
            if not line.strip():
                continue
            index = first_line - 1 + offset
            try:
                listen = _LB_DECODER.decode(line)
            except msgspec.ValidationError as error:
                yield index, build.skip(index, SKIP_BAD_RECORD, f"line {index + 1}: {str(error)[:120]}")
                continue
            except msgspec.DecodeError, ValueError:
                yield index, build.skip(index, SKIP_BAD_RECORD, f"line {index + 1} is not valid JSON (cut off?)")
                continue
            yield index, listen_row(build, listen, index)


def listenbrainz_json_rows(reader: Reader, build: ScrobbleBuilder) -> Iterator[tuple[int, ScrobbleRow | str]]:
    for index, element in enumerate(iter_array_typed(reader, LBListen)):
        if type(element) is not LBListen:
            try:
                element = msgspec.convert(element, LBListen)
            except msgspec.ValidationError as error:
                yield index, build.skip(index, SKIP_BAD_RECORD, str(error)[:120])
                continue
        yield index, listen_row(build, element, index)


# --- Last.fm ------------------------------------------------------------------------------------------


def _text_of(value: object) -> object:
    """`{"#text": …}` / `{"name": …}` (the API's objects) or a plain value."""
    if isinstance(value, dict):
        return value.get("#text", value.get("name"))
    return value


def _lastfm_json_row(build: ScrobbleBuilder, track: object, index: int) -> ScrobbleRow | str:
    if not isinstance(track, dict):
        return build.skip(index, SKIP_BAD_RECORD, f"expected a track object, found {type(track).__name__}")
    attributes = track.get("@attr")
    date = track.get("date")
    if date is None and isinstance(attributes, dict) and attributes.get("nowplaying"):
        return build.skip(index, SKIP_NOW_PLAYING, "the 'now playing' entry has no time")
    when = date.get("uts") if isinstance(date, dict) else date
    artist = track.get("artist")
    album = track.get("album")
    return build.row(
        index,
        when,
        "date.uts",
        _text_of(artist),
        track.get("name"),
        _text_of(album),
        recording_mbid=mbid_of(track.get("mbid")),
        release_mbid=mbid_of(album.get("mbid")) if isinstance(album, dict) else None,
        artist_mbid=mbid_of(artist.get("mbid")) if isinstance(artist, dict) else None,
        epoch_parser=_any_time,
    )


def lastfm_json_rows(reader: Reader, build: ScrobbleBuilder) -> Iterator[tuple[int, ScrobbleRow | str]]:
    index = 0
    for element in iter_array(reader):
        for track in element if isinstance(element, list) else (element,):  # an array of pages, or of tracks
            yield index, _lastfm_json_row(build, track, index)
            index += 1


def lastfm_csv_rows(reader: Reader, build: ScrobbleBuilder) -> Iterator[tuple[int, ScrobbleRow | str]]:
    rows = csv.reader(io.TextIOWrapper(io.BufferedReader(_RawAdapter(reader)), encoding="utf-8-sig", newline=""))
    first = _next_row(rows, build, -1)
    if first is None:
        return
    header = [field.strip().lower() for field in first]
    artist_at = _column(header, _ARTIST_COLUMNS)
    track_at = _column(header, _TRACK_COLUMNS)
    time_names = [name for name in _TIME_COLUMNS if name in header]
    if artist_at is not None and track_at is not None and time_names:
        time_at = header.index(time_names[0])
        time_name = time_names[0]
        album_at = _column(header, _ALBUM_COLUMNS)
        mbids = (
            _column(header, ("track_mbid", "mbid")),
            _column(header, ("album_mbid",)),
            _column(header, ("artist_mbid",)),
        )
        data_start = 0
    else:  # lastfm-to-csv: artist, album, track, date — no header
        artist_at, album_at, track_at, time_at, time_name = 0, 1, 2, 3, "date"
        mbids = (None, None, None)
        data_start = 1
        yield 0, _csv_row(build, first, 0, artist_at, album_at, track_at, time_at, time_name, mbids)
    width = max(i for i in (artist_at, album_at, track_at, time_at) if i is not None) + 1
    index = data_start - 1
    while True:
        fields = _next_row(rows, build, index)
        if fields is None:
            return
        index += 1
        if not fields:
            continue
        if len(fields) < width:
            yield (
                index,
                build.skip(index, SKIP_BAD_RECORD, f"line {rows.line_num} has {len(fields)} columns, not {width}"),
            )
            continue
        yield index, _csv_row(build, fields, index, artist_at, album_at, track_at, time_at, time_name, mbids)


def _next_row(rows: Iterator[list[str]], build: ScrobbleBuilder, index: int) -> list[str] | None:
    """The next CSV row, None at the end; a file that cannot be read as CSV is refused, naming the line."""
    line = getattr(rows, "line_num", 0)
    try:
        return next(rows)
    except StopIteration:
        return None
    except csv.Error as error:
        raise ImportRejected(
            f"{build.member}, line {getattr(rows, 'line_num', line)}: not a readable CSV row ({error}); the file is "
            "damaged, export it again",
            reason="bad_csv",
            member=build.member,
            record=index + 2,
        ) from None
    except UnicodeDecodeError:
        raise ImportRejected(
            f"{build.member}, after line {line}: the file is not UTF-8 text; export it again as UTF-8",
            reason="bad_csv",
            member=build.member,
        ) from None


def _csv_row(
    build: ScrobbleBuilder,
    fields: list[str],
    index: int,
    artist_at: int,
    album_at: int | None,
    track_at: int,
    time_at: int,
    time_name: str,
    mbids: tuple[int | None, int | None, int | None],
) -> ScrobbleRow | str:
    track_mbid, album_mbid, artist_mbid = mbids
    return build.row(
        index,
        fields[time_at],
        time_name,
        fields[artist_at],
        fields[track_at],
        fields[album_at] if album_at is not None else None,
        recording_mbid=mbid_of(fields[track_mbid]) if track_mbid is not None and track_mbid < len(fields) else None,
        release_mbid=mbid_of(fields[album_mbid]) if album_mbid is not None and album_mbid < len(fields) else None,
        artist_mbid=mbid_of(fields[artist_mbid]) if artist_mbid is not None and artist_mbid < len(fields) else None,
        epoch_parser=_any_time,
    )


class _RawAdapter(io.RawIOBase):
    """A `read(size)` byte reader as a raw stream, for `io.TextIOWrapper` (the CSV module reads text)."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._reader.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def rows_of(kind: ScrobbleKind, reader: Reader, build: ScrobbleBuilder) -> Iterator[tuple[int, ScrobbleRow | str]]:
    """(record index, row or skip reason) of one file; raises `ImportRejected` for a file that cannot be read."""
    member = build.member
    try:
        if kind is ScrobbleKind.listenbrainz_jsonl:
            yield from listenbrainz_jsonl_rows(reader, build)
        elif kind is ScrobbleKind.listenbrainz_json:
            yield from listenbrainz_json_rows(reader, build)
        elif kind is ScrobbleKind.lastfm_json:
            yield from lastfm_json_rows(reader, build)
        else:
            yield from lastfm_csv_rows(reader, build)
    except NotAnArray as error:
        raise ImportRejected(
            f"{member}: {error}; expected a JSON list of listens. Export it again",
            reason="bad_json",
            member=member,
        ) from None
    except JsonStreamError as error:
        raise ImportRejected(
            f"{member} is not valid JSON (at record {error.element}: {str(error)[:160]}); the file is truncated or "
            "corrupted, export it again",
            reason="bad_json",
            member=member,
            record=error.element,
        ) from None
