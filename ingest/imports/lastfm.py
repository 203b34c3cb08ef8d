"""Last.fm scrobbles as the usual export tools write them: `raw.scrobbles` rows, streamed.

`scrobbles-*.csv` with a header (`uts`, `utc_time`, `artist`, `artist_mbid`, `album`, `album_mbid`, `track`,
`track_mbid`; other spellings of those columns too), a headerless `artist,album,track,date` CSV (`31 Jan 2021
12:34`, lastfm-to-csv), or `scrobbles-*.json`: the API's track objects (`artist.#text`, `name`, `album.#text`,
`date.uts`, `mbid`), as one array or an array of pages. Times are UTC.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from ingest.imports.errors import ImportRejected
from ingest.imports.jsonstream import Reader, iter_array
from ingest.imports.scrobbles import (
    SKIP_BAD_RECORD,
    SKIP_NOW_PLAYING,
    BadRecord,
    Chunk,
    Chunker,
    ScrobbleBuilder,
    ScrobbleRow,
    epoch_of,
    mbid_of,
)

TIME_COLUMNS: Final = ("uts", "timestamp", "utc_time", "date", "time", "played_at", "listened_at", "scrobble_time")
ARTIST_COLUMNS: Final = ("artist", "artist_name", "artistname")
TRACK_COLUMNS: Final = ("track", "track_name", "trackname", "title", "name", "song")
ALBUM_COLUMNS: Final = ("album", "album_name", "albumname", "release", "release_name")


def column(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


_TEXT_TIME_FORMATS: Final = ("%d %b %Y, %H:%M", "%d %b %Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


def text_time(value: str) -> int | None:
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
        epoch = text_time(value)
        if epoch is None:
            raise BadRecord(f"`{field_name}` {value!r:.40} is not a date-time")
        return epoch
    return epoch_of(value, field_name)


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


def lastfm_json_rows(reader: Reader, build: ScrobbleBuilder) -> Iterator[Chunk]:
    index = 0
    chunk = Chunker()
    for element in iter_array(reader):
        for track in element if isinstance(element, list) else (element,):  # an array of pages, or of tracks
            if (full := chunk.add(index, _lastfm_json_row(build, track, index))) is not None:
                yield full
            index += 1
    if (rest := chunk.rest()) is not None:
        yield rest


def lastfm_csv_rows(reader: Reader, build: ScrobbleBuilder) -> Iterator[Chunk]:
    rows = csv.reader(io.TextIOWrapper(io.BufferedReader(_RawAdapter(reader)), encoding="utf-8-sig", newline=""))
    first = _next_row(rows, build, -1)
    if first is None:
        return
    header = [field.strip().lower() for field in first]
    artist_at = column(header, ARTIST_COLUMNS)
    track_at = column(header, TRACK_COLUMNS)
    time_names = [name for name in TIME_COLUMNS if name in header]
    if artist_at is not None and track_at is not None and time_names:
        time_at = header.index(time_names[0])
        time_name = time_names[0]
        album_at = column(header, ALBUM_COLUMNS)
        mbids = (
            column(header, ("track_mbid", "mbid")),
            column(header, ("album_mbid",)),
            column(header, ("artist_mbid",)),
        )
        data_start = 0
    else:  # lastfm-to-csv: artist, album, track, date — no header
        artist_at, album_at, track_at, time_at, time_name = 0, 1, 2, 3, "date"
        mbids = (None, None, None)
        data_start = 1
    chunk = Chunker()
    if data_start:
        chunk.add(0, _csv_row(build, first, 0, artist_at, album_at, track_at, time_at, time_name, mbids))
    width = max(i for i in (artist_at, album_at, track_at, time_at) if i is not None) + 1
    index = data_start - 1
    while True:
        fields = _next_row(rows, build, index)
        if fields is None:
            break
        index += 1
        if not fields:
            continue
        if len(fields) < width:
            row: ScrobbleRow | str = build.skip(
                index, SKIP_BAD_RECORD, f"line {rows.line_num} has {len(fields)} columns, not {width}"
            )
        else:
            row = _csv_row(build, fields, index, artist_at, album_at, track_at, time_at, time_name, mbids)
        if (full := chunk.add(index, row)) is not None:
            yield full
    if (rest := chunk.rest()) is not None:
        yield rest


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
        None,
        mbid_of(fields[track_mbid]) if track_mbid is not None and track_mbid < len(fields) else None,
        mbid_of(fields[album_mbid]) if album_mbid is not None and album_mbid < len(fields) else None,
        mbid_of(fields[artist_mbid]) if artist_mbid is not None and artist_mbid < len(fields) else None,
        None,
        _any_time,
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
