"""One ListenBrainz listen or Last.fm scrobble → one `raw.scrobbles` row.

A scrobble is the START of a listen (Spotify's `ts`/`played_at` are the end) and says nothing of how long it
played; the track's length is kept when the source gives it (ListenBrainz `duration_ms`), so that the warehouse
can match it to the same listen from Spotify (docs/warehouse-contract.md, "Scrobbles").

Privacy: rows are built from an allow-list (start, artist, track, album, Spotify id, MusicBrainz ids, length,
file). The ListenBrainz user name, `recording_msid`, submission client / media player and Last.fm's URLs and
images are never kept; ListenBrainz `feedback.jsonl` (loved/hated) and `user.json` are not read (nothing uses
them yet).

Identity: `record_key` = `<start, epoch seconds, 11 digits>|<first 96 bits of sha1(case-folded artist, US,
case-folded track)>|<service: lb | fm>`. The same listen in a re-import or in an overlapping later export of the
same service gets the same key, so the unique `(user_id, record_key)` makes it a no-op. The service is part of the
key so that what is stored does not depend on the order of imports: the same listen from ListenBrainz and from
Last.fm (ListenBrainz imports Last.fm history with the same second and names) is two rows, which the warehouse
pairs and keeps ListenBrainz's (rule 4 of int_plays_deduplicated; it may carry the Spotify id, length and
MusicBrainz ids). `twin_key` is the other service's key of a listen (the preview counts it as known). Keys stored
before the service was in them were given it by migration 0013. The time prefix keeps the unique index's inserts
in time order.

A record that cannot be a listen is skipped, counted by reason and described (file, record, why; the first
`MAX_SKIP_DETAILS`) in the job's stats, and the rest imports: `no_item` (no artist or track), `out_of_range`
(before 2002, when Audioscrobbler began, or more than a day ahead), `now_playing` (Last.fm's "now playing"
entry, which has no time), `bad_record` (a field of the wrong type, a time that is not one).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha1
from typing import Final

from core.play_time import latest_allowed
from ingest.imports import pgtime
from ingest.imports.normalize import MAX_SKIP_DETAILS

COLUMNS: Final = (
    "user_id",
    "import_job_id",
    "record_key",
    "source",
    "started_at",
    "artist_name",
    "track_name",
    "album_name",
    "spotify_track_id",
    "recording_mbid",
    "release_mbid",
    "artist_mbid",
    "duration_ms",
    "source_file",
)

# `started_at` is in PostgreSQL's own form, microseconds since 2000-01-01 UTC (`pgtime`, why there).
type ScrobbleRow = tuple[
    uuid.UUID,
    int,
    str,
    str,
    int,
    str,
    str,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    int | None,
    str,
]

# What a format's parser yields: (index of the first record, row or skip reason of each record from there on).
# Records travel in chunks (a block of ListenBrainz lines, ~1,000 CSV rows) rather than one by one, so that the
# layers between the parser and the batch (`producers`) cost a step per chunk, not per record.
type Chunk = tuple[int, list[ScrobbleRow | str]]
CHUNK_RECORDS: Final = 1024


class Chunker:
    """Gathers records read one by one into `Chunk`s of consecutive records (a gap starts a new chunk, so a
    record's index stays its position): `add` returns a chunk once one is full, `rest` the last one."""

    __slots__ = ("_first", "_items")

    def __init__(self) -> None:
        self._first = 0
        self._items: list[ScrobbleRow | str] = []

    def add(self, index: int, item: ScrobbleRow | str) -> Chunk | None:
        items = self._items
        if items and index != self._first + len(items):
            done: Chunk = (self._first, items)
            self._first, self._items = index, [item]
            return done
        if not items:
            self._first = index
        items.append(item)
        if len(items) >= CHUNK_RECORDS:
            self._items = []
            return self._first, items
        return None

    def rest(self) -> Chunk | None:
        items, self._items = self._items, []
        return (self._first, items) if items else None


SKIP_NO_ITEM: Final = "no_item"
SKIP_OUT_OF_RANGE: Final = "out_of_range"
SKIP_NOW_PLAYING: Final = "now_playing"
SKIP_BAD_RECORD: Final = "bad_record"

# `pgtime`'s helpers under the names this module has always offered.
pg_micros = pgtime.pg_micros
started_at_of = pgtime.datetime_of
_PG_EPOCH: Final = pgtime.PG_EPOCH_UNIX


# Audioscrobbler (Last.fm's predecessor) began in 2002; nothing was scrobbled earlier (uts 0 is a broken record).
EARLIEST_SCROBBLE: Final = datetime(2002, 1, 1, tzinfo=UTC)
_EARLIEST_EPOCH: Final = int(EARLIEST_SCROBBLE.timestamp())
# Longer names are not names (a hostile or broken file); the record is skipped.
MAX_NAME_CHARS: Final = 1000
# Above this an epoch is in milliseconds (1e11 s is the year 5138).
_MS_THRESHOLD: Final = 100_000_000_000
_MAX_DURATION_MS: Final = 24 * 3600 * 1000
_SPOTIFY_ID: Final = re.compile(r"(?:spotify:track:|open\.spotify\.com/(?:intl-[a-z-]+/)?track/)([0-9A-Za-z]{22})")
_MBID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


_TRACK_URL: Final = "https://open.spotify.com/track/"


def spotify_id_of(value: object) -> str | None:
    """The track id of `https://open.spotify.com/track/<id>` or `spotify:track:<id>` (or a bare id)."""
    if type(value) is not str or not value:
        return None
    if len(value) == 53 and value.startswith(_TRACK_URL):  # how ListenBrainz writes it, without a query
        found_id = value[31:]
        if found_id.isalnum() and found_id.isascii():
            return found_id
    if len(value) == 22 and value.isalnum():
        return value
    found = _SPOTIFY_ID.search(value)
    return found[1] if found else None


def mbid_of(value: object) -> str | None:
    """A MusicBrainz id (a UUID, lower-cased); the first of a list; None for anything else."""
    if value is None:
        return None
    if type(value) is list:
        value = value[0] if value else None
    if type(value) is str and len(value) == 36 and _MBID.match(value):
        return value.lower()
    return None


# The service's mark at the end of a key (`source` → mark); both of the same length (`twin_key`).
SOURCE_MARKS: Final = {"listenbrainz": "|lb", "lastfm": "|fm"}
_TWIN_MARKS: Final = {"|lb": "|fm", "|fm": "|lb"}


def _name_digest(artist: str, track: str) -> str:
    return sha1(f"{artist.casefold()}\x1f{track.casefold()}".encode(), usedforsecurity=False).hexdigest()[:24]


def record_key(epoch: int, artist: str, track: str, source: str) -> str:
    return f"{epoch:011d}|{_name_digest(artist, track)}{SOURCE_MARKS[source]}"


class NameKeys(dict[tuple[str, str], str]):
    """(artist, track) → the name part of their key, remembered for one import: a history repeats the same songs
    thousands of times, and hashing is most of a key's cost (a hit is one dict lookup in C). Cleared when full."""

    LIMIT: Final = 1 << 16  # ~18 MB at most

    def __missing__(self, pair: tuple[str, str]) -> str:
        if len(self) >= self.LIMIT:
            self.clear()
        digest = self[pair] = _name_digest(*pair)
        return digest


def twin_key(key: str) -> str:
    """The key the same listen (same second, same case-folded names) has from the other service."""
    return key[:-3] + _TWIN_MARKS[key[-3:]]


class BadRecord(ValueError):
    """A record that cannot be read; the message says which field and why (the record is skipped)."""


def epoch_of(value: object, field_name: str) -> int:
    """Epoch seconds of a number or a numeric text (milliseconds are recognised); raises `BadRecord`."""
    if type(value) is int:  # the usual case (`listened_at`)
        return value if value < _MS_THRESHOLD else value // 1000
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float = int(text) if text.isdigit() else float(text)
        except ValueError:
            raise BadRecord(f"`{field_name}` {value!r:.40} is not a time (epoch seconds)") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    else:
        raise BadRecord(f"`{field_name}` {value!r:.40} is not a time (epoch seconds)")
    if number != number or number in (float("inf"), float("-inf")):
        raise BadRecord(f"`{field_name}` {value!r:.40} is not a time")
    if number >= _MS_THRESHOLD:
        number /= 1000
    return int(number)


def _name(value: object, field_name: str) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise BadRecord(f"`{field_name}` should be text but is {type(value).__name__} {value!r:.40}")
    value = value.strip()
    if len(value) > MAX_NAME_CHARS:
        raise BadRecord(f"`{field_name}` is {len(value):,} characters long, too long for a name")
    return value or None


def duration_ms_of(value: object, *, seconds: bool = False) -> int | None:
    """A track length (ms, or seconds when `seconds`), or None when absent or implausible."""
    if value is None:
        return None
    if type(value) is int and not seconds:  # the usual `duration_ms`
        return value if 0 < value <= _MAX_DURATION_MS else None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    ms = int(value * 1000 if seconds else value)
    return ms if 0 < ms <= _MAX_DURATION_MS else None


@dataclass(slots=True)
class ScrobbleBuilder:
    """Builds the rows of one file of one source. `row` returns a row or a skip reason (and describes it)."""

    user_id: uuid.UUID
    import_job_id: int
    source: str
    member: str
    latest: datetime = field(default_factory=latest_allowed)
    skip_details: list[str] = field(default_factory=list)
    names: NameKeys = field(default_factory=NameKeys)  # shared by the files of one import
    _latest_epoch: int = 0
    _mark: str = ""

    def __post_init__(self) -> None:
        self._latest_epoch = int(self.latest.timestamp())
        self._mark = SOURCE_MARKS[self.source]

    def skip(self, index: int, reason: str, why: str) -> str:
        if len(self.skip_details) < MAX_SKIP_DETAILS:
            self.skip_details.append(f"{self.member}, record {index + 1}: {why}; skipped")
        return reason

    def row(
        self,
        index: int,
        when: object,
        time_field: str,
        artist: object,
        track: object,
        album: object = None,
        spotify_id: str | None = None,
        recording_mbid: str | None = None,
        release_mbid: str | None = None,
        artist_mbid: str | None = None,
        duration_ms: int | None = None,
        epoch_parser: Callable[[object, str], int] = epoch_of,
    ) -> ScrobbleRow | str:
        # Hot path (once per record): the usual record — an epoch (a number, or digits) in range and names that
        # are short text — passes with a few comparisons; anything else is checked by `_checked_row`, which
        # skips it or comes back here with the values converted.
        if type(when) is int:
            epoch = when
        elif type(when) is str and len(when) == 10 and when.isdecimal():  # Last.fm's `uts` (2001-09-09 to 2286)
            epoch = int(when)
        else:
            epoch = -1
        if (
            _EARLIEST_EPOCH <= epoch <= self._latest_epoch
            and type(artist) is str
            and type(track) is str
            and (album is None or type(album) is str)
        ):
            artist_name = artist.strip()
            track_name = track.strip()
            album_name = album.strip() if album else None
            if (
                artist_name
                and track_name
                and len(artist_name) <= MAX_NAME_CHARS
                and len(track_name) <= MAX_NAME_CHARS
                and (not album_name or len(album_name) <= MAX_NAME_CHARS)
            ):
                return (
                    self.user_id,
                    self.import_job_id,
                    # `{epoch:011d}`, spelt for speed: every epoch in range has ten digits.
                    f"0{epoch}|{self.names[artist_name, track_name]}{self._mark}",
                    self.source,
                    (epoch - _PG_EPOCH) * 1_000_000,  # pg_micros(epoch), inlined
                    artist_name,
                    track_name,
                    album_name or None,
                    spotify_id,
                    recording_mbid,
                    release_mbid,
                    artist_mbid,
                    duration_ms,
                    self.member,
                )
        return self._checked_row(
            index,
            when,
            time_field,
            artist,
            track,
            album,
            spotify_id,
            recording_mbid,
            release_mbid,
            artist_mbid,
            duration_ms,
            epoch_parser,
        )

    def _checked_row(
        self,
        index: int,
        when: object,
        time_field: str,
        artist: object,
        track: object,
        album: object,
        spotify_id: str | None,
        recording_mbid: str | None,
        release_mbid: str | None,
        artist_mbid: str | None,
        duration_ms: int | None,
        epoch_parser: Callable[[object, str], int],
    ) -> ScrobbleRow | str:
        """`row` for a record off the usual path: the skip reason, or `row` of the converted values."""
        try:
            epoch = epoch_parser(when, time_field)
            artist_name = _name(artist, "artist")
            track_name = _name(track, "track")
            album_name = _name(album, "album")
        except BadRecord as error:
            return self.skip(index, SKIP_BAD_RECORD, str(error))
        if not artist_name or not track_name:
            missing = "artist" if not artist_name else "track"
            return self.skip(index, SKIP_NO_ITEM, f"no {missing} name")
        if epoch < _EARLIEST_EPOCH or epoch > self._latest_epoch:
            return self.skip(
                index,
                SKIP_OUT_OF_RANGE,
                f"`{time_field}` {when!r:.40} is "
                + (
                    "before 2002, when scrobbling began" if epoch < _EARLIEST_EPOCH else "more than a day in the future"
                ),
            )
        return self.row(
            index,
            epoch,
            time_field,
            artist_name,
            track_name,
            album_name,
            spotify_id,
            recording_mbid,
            release_mbid,
            artist_mbid,
            duration_ms,
        )
