"""ListenBrainz exports: listens as `raw.scrobbles` rows, streamed (`scrobble_formats` tells the files apart).

The export ZIP holds `listens/<year>/<month>.jsonl`, one listen per line (`listened_at` epoch seconds,
`track_metadata` with `artist_name`, `track_name`, `release_name`, `additional_info` incl. `spotify_id`,
`duration_ms`/`duration`, MusicBrainz ids, and `mbid_mapping`); older exports are one JSON array of listens.
Listens are decoded by msgspec into an allow-list (`LBListen`): the user name, msid, submission client and
player are never decoded. A bad line is skipped and named by its line number; the rest imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import msgspec

from ingest.imports.jsonstream import Reader, iter_array_typed
from ingest.imports.scrobbles import (
    SKIP_BAD_RECORD,
    Chunk,
    Chunker,
    ScrobbleBuilder,
    ScrobbleRow,
    duration_ms_of,
    mbid_of,
    spotify_id_of,
)


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
    # Hot path: a field that is absent (None) costs no call.
    if info is not None:
        if info.spotify_id is not None:
            spotify_id = spotify_id_of(info.spotify_id)
        if info.duration_ms is not None:
            duration = duration_ms_of(info.duration_ms)
        if duration is None and info.duration is not None:
            duration = duration_ms_of(info.duration, seconds=True)
        if info.recording_mbid is not None:
            recording = mbid_of(info.recording_mbid)
        if info.release_mbid is not None:
            release = mbid_of(info.release_mbid)
        if info.artist_mbids is not None:
            artist = mbid_of(info.artist_mbids)
    if mapping is not None:  # ListenBrainz's own matching, when the submitter sent no ids
        if recording is None and mapping.recording_mbid is not None:
            recording = mbid_of(mapping.recording_mbid)
        if release is None and mapping.release_mbid is not None:
            release = mbid_of(mapping.release_mbid)
        if artist is None and mapping.artist_mbids is not None:
            artist = mbid_of(mapping.artist_mbids)
    return build.row(
        index,
        listen.listened_at,
        "listened_at",
        meta.artist_name,
        meta.track_name,
        meta.release_name,
        spotify_id,
        recording,
        release,
        artist,
        duration,
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


def listenbrainz_jsonl_rows(reader: Reader, build: ScrobbleBuilder) -> Iterator[Chunk]:
    """Chunks (`scrobbles.Chunk`) of a `.jsonl` of listens: a block of lines is decoded in one call and is one
    chunk; a block with a bad line is decoded line by line, one chunk per line, so that the line is named and the
    others are kept."""
    for first_line, block in _iter_lines(reader):
        try:
            listens = _LB_DECODER.decode_lines(block)
        except msgspec.DecodeError, ValueError:
            listens = None
        if listens is not None and listens and block.count(b"\n") + (not block.endswith(b"\n")) == len(listens):
            first = first_line - 1
            yield first, [listen_row(build, listen, first + offset) for offset, listen in enumerate(listens)]
            continue
        for offset, line in enumerate(block.split(b"\n")):
            if not line.strip():
                continue
            index = first_line - 1 + offset
            try:
                listen = _LB_DECODER.decode(line)
            except msgspec.ValidationError as error:
                yield index, [build.skip(index, SKIP_BAD_RECORD, f"line {index + 1}: {str(error)[:120]}")]
                continue
            except msgspec.DecodeError, ValueError:
                yield index, [build.skip(index, SKIP_BAD_RECORD, f"line {index + 1} is not valid JSON (cut off?)")]
                continue
            yield index, [listen_row(build, listen, index)]


def listenbrainz_json_rows(reader: Reader, build: ScrobbleBuilder) -> Iterator[Chunk]:
    chunk = Chunker()
    for index, element in enumerate(iter_array_typed(reader, LBListen)):
        if type(element) is not LBListen:
            try:
                converted = msgspec.convert(element, LBListen)
            except msgspec.ValidationError as error:
                row: ScrobbleRow | str = build.skip(index, SKIP_BAD_RECORD, str(error)[:120])
            else:
                row = listen_row(build, converted, index)
        else:
            row = listen_row(build, element, index)
        if (full := chunk.add(index, row)) is not None:
            yield full
    if (rest := chunk.rest()) is not None:
        yield rest
