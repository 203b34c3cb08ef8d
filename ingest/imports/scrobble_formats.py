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

The parsers are `listenbrainz` and `lastfm`. Every record is read on its own: a record that cannot be a listen
is skipped and named (`scrobbles`); a file that is not what it claims (broken JSON array, not a CSV of
scrobbles) is refused with its name and position.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from enum import StrEnum
from typing import Final

import msgspec

from ingest.imports.errors import ImportRejected
from ingest.imports.formats import basename, is_junk
from ingest.imports.jsonstream import JsonStreamError, NotAnArray, Prefixed, Reader, iter_array
from ingest.imports.lastfm import (
    ARTIST_COLUMNS,
    TIME_COLUMNS,
    TRACK_COLUMNS,
    column,
    lastfm_csv_rows,
    lastfm_json_rows,
    text_time,
)
from ingest.imports.listenbrainz import listenbrainz_json_rows, listenbrainz_jsonl_rows
from ingest.imports.scrobbles import Chunk, ScrobbleBuilder


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
    if column(header, ARTIST_COLUMNS) is not None and column(header, TRACK_COLUMNS) is not None:
        return ScrobbleKind.lastfm_csv if column(header, TIME_COLUMNS) is not None else None
    if len(fields) == 4 and text_time(fields[3]) is not None:
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


def rows_of(kind: ScrobbleKind, reader: Reader, build: ScrobbleBuilder) -> Iterator[Chunk]:
    """The records of one file, in chunks (`scrobbles.Chunk`: index of the first, row or skip reason of each);
    raises `ImportRejected` for a file that cannot be read."""
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
