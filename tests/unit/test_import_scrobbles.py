"""Scrobble parsing without a database: formats, detection, identity, and bad lines named where they are."""

from __future__ import annotations

import io
import json
import random
import uuid
from datetime import UTC, datetime

import pytest

from ingest.imports import listenbrainz
from ingest.imports.errors import ImportRejected
from ingest.imports.scrobble_formats import ScrobbleKind, kind_of, rows_of
from ingest.imports.scrobbles import (
    CHUNK_RECORDS,
    Chunker,
    ScrobbleBuilder,
    mbid_of,
    record_key,
    spotify_id_of,
    started_at_of,
    twin_key,
)
from tests.fixtures.exports import scrobbles as sx

USER = uuid.UUID(int=1)


def _rows(kind: ScrobbleKind, data: bytes, member: str = "f") -> tuple[list[object], ScrobbleBuilder]:
    build = ScrobbleBuilder(user_id=USER, import_job_id=1, source="listenbrainz", member=member)
    return [row for _, chunk in rows_of(kind, io.BytesIO(data), build) for row in chunk], build


def test_ids_are_read_from_their_usual_spellings() -> None:
    assert spotify_id_of(f"https://open.spotify.com/track/{sx.SPOTIFY_ID}?si=abc") == sx.SPOTIFY_ID
    assert spotify_id_of(f"https://open.spotify.com/intl-de/track/{sx.SPOTIFY_ID}") == sx.SPOTIFY_ID
    assert spotify_id_of(f"spotify:track:{sx.SPOTIFY_ID}") == sx.SPOTIFY_ID
    assert spotify_id_of(sx.SPOTIFY_ID) == sx.SPOTIFY_ID
    assert spotify_id_of("https://open.spotify.com/episode/xyz") is None and spotify_id_of(42) is None
    assert mbid_of([sx.ARTIST_MBID.upper(), "other"]) == sx.ARTIST_MBID
    assert mbid_of("") is None and mbid_of("not-an-mbid") is None and mbid_of([]) is None


def test_the_key_ignores_case_but_not_the_second_nor_the_service() -> None:
    at = sx.epoch("2023-01-01T10:00:00")
    lb = "listenbrainz"
    assert record_key(at, "Björk", "Jóga", lb) == record_key(at, "BJÖRK", "jóga", lb)
    assert record_key(at, "A", "B", lb) != record_key(at + 1, "A", "B", lb)
    assert record_key(at, "A", "B", lb) != record_key(at, "A", "C", lb)
    assert record_key(at, "A|B", "C", lb) != record_key(at, "A", "B|C", lb)  # the separator cannot occur in names
    # Both services' rows of one listen are stored (the warehouse pairs them): the import order decides nothing.
    from_lastfm = record_key(at, "björk", "JÓGA", "lastfm")
    assert from_lastfm != record_key(at, "Björk", "Jóga", lb)
    assert twin_key(from_lastfm) == record_key(at, "Björk", "Jóga", lb)
    assert twin_key(twin_key(from_lastfm)) == from_lastfm


def test_a_record_off_the_usual_path_gives_the_row_of_its_converted_values() -> None:
    """The hot path takes the usual record (an epoch in range, clean names); every other spelling of the same
    record is converted on the checked path and gives the same row."""
    build = ScrobbleBuilder(user_id=USER, import_job_id=1, source="lastfm", member="f")
    at = sx.epoch("2023-01-01T10:00:00")
    usual = build.row(0, at, "uts", "Artist", "Song", "Album")
    assert isinstance(usual, tuple) and usual[2] == record_key(at, "Artist", "Song", "lastfm")
    assert started_at_of(usual[4]) == datetime(2023, 1, 1, 10, 0, tzinfo=UTC)
    assert usual[5:8] == ("Artist", "Song", "Album")
    for when in (at * 1000, str(at), f" {at} ", float(at), str(at * 1000)):
        assert build.row(0, when, "uts", "  Artist ", "Song\t", " Album ") == usual, when
    no_album = build.row(0, at, "uts", "Artist", "Song", "   ")
    assert isinstance(no_album, tuple) and no_album[7] is None
    assert build.row(0, at, "uts", " ", "Song") == "no_item"
    assert build.row(0, "٣" * 10, "uts", "Artist", "Song") == "out_of_range"  # digits, but not a time of scrobbles
    assert build.row(0, at, "uts", "Artist", "x" * 1001) == "bad_record"


def test_records_travel_in_chunks_of_consecutive_records() -> None:
    chunker = Chunker()
    assert [chunker.add(index, "x") for index in (0, 1, 2, 5, 6)] == [None, None, None, (0, ["x"] * 3), None]
    assert chunker.rest() == (5, ["x", "x"]) and chunker.rest() is None
    full = [chunker.add(index, "y") for index in range(10, 10 + CHUNK_RECORDS)]
    assert full[-1] == (10, ["y"] * CHUNK_RECORDS) and full[:-1] == [None] * (CHUNK_RECORDS - 1)


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("listens/2023/1.jsonl", sx.jsonl([sx.listen("2023-01-01T10:00:00")]), ScrobbleKind.listenbrainz_jsonl),
        ("renamed.jsonl", sx.jsonl([sx.listen("2023-01-01T10:00:00")]), ScrobbleKind.listenbrainz_jsonl),
        ("alice_lb-2020.json", json.dumps([sx.listen("2020-01-01T10:00:00")]), ScrobbleKind.listenbrainz_json),
        ("scrobbles-a-1.csv", sx.lastfm_csv([("2023-01-01T10:00:00", "A", "B", "C")]), ScrobbleKind.lastfm_csv),
        ("x.csv", sx.lastfm_csv([("2023-01-01T10:00:00", "A", "B", "C")], header=False), ScrobbleKind.lastfm_csv),
        ("scrobbles-a-1.json", json.dumps([sx.lastfm_track("2023-01-01T10:00:00")]), ScrobbleKind.lastfm_json),
        ("pages.json", json.dumps([[sx.lastfm_track(None)] * 400]), ScrobbleKind.lastfm_json),  # page > peek
        ("feedback.jsonl", json.dumps({"recording_mbid": sx.RECORDING_MBID, "score": 1}), None),
        ("user.json", json.dumps({"user_id": 1}), None),
        ("budget.csv", "date,amount\n2023-01-01,3\n", None),
        ("Streaming_History_Audio_2023_0.json", json.dumps([{"ts": "2023-01-01T10:00:00Z", "ms_played": 1}]), None),
        ("__MACOSX/._scrobbles-a-1.csv", sx.lastfm_csv([("2023-01-01T10:00:00", "A", "B", "C")]), None),
    ],
)
def test_formats_are_told_by_content(name: str, content: str, kind: ScrobbleKind | None) -> None:
    assert kind_of(name, content.encode()[: 64 * 1024]) == kind


def test_csv_names_with_commas_quotes_and_newlines_survive() -> None:
    data = sx.lastfm_csv([("2023-01-01T10:00:00", 'Crosby, Stills & "Nash"', "Déjà\nVu", "Carry On")]).encode()
    rows, _ = _rows(ScrobbleKind.lastfm_csv, data)
    assert len(rows) == 1
    row = rows[0]
    assert isinstance(row, tuple)
    assert (row[5], row[6], row[7]) == ('Crosby, Stills & "Nash"', "Carry On", "Déjà\nVu")
    assert started_at_of(row[4]) == datetime(2023, 1, 1, 10, 0, tzinfo=UTC)


def test_a_csv_that_is_not_utf8_is_refused_with_its_line() -> None:
    data = sx.lastfm_csv([("2023-01-01T10:00:00", "A", "B", "C")]).encode() + b"1672567200,\xff\xfe,x,,y,,z,\n"
    with pytest.raises(ImportRejected, match="not UTF-8"):
        _rows(ScrobbleKind.lastfm_csv, data, member="scrobbles-a-1.csv")


@pytest.mark.parametrize("block_bytes", [1 << 20, 700])
def test_bad_lines_are_named_by_their_line_wherever_they_fall(
    block_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Property over random files: every good listen is kept, in order, and each bad line is skipped and named by
    its own line number, whether the block it falls in decodes in one call or line by line (small blocks: a file
    is many blocks, lines cut across reads)."""
    monkeypatch.setattr(listenbrainz, "_LINES_CHUNK", block_bytes)
    rng = random.Random(21)
    bad_kinds = ['{"listened_at": 16', '{"listened_at": 1672567200, "track_metadata": 7}', "[1, 2]", "null"]
    for _ in range(40):
        lines: list[str] = []
        expected_good: list[str] = []
        expected_bad: list[int] = []
        for number in range(rng.randint(1, 60)):
            if rng.random() < 0.15:
                lines.append(rng.choice(bad_kinds))
                expected_bad.append(len(lines))
            elif rng.random() < 0.05:
                lines.append("")  # blank lines are not records
            else:
                track = f"T{number}"
                lines.append(json.dumps(sx.listen(1_672_567_200 + number, track=track)))
                expected_good.append(track)
        data = "\n".join(lines) + rng.choice(["", "\n"])
        rows, build = _rows(ScrobbleKind.listenbrainz_jsonl, data.encode())
        assert [row[6] for row in rows if isinstance(row, tuple)] == expected_good
        assert len([row for row in rows if not isinstance(row, tuple)]) == len(expected_bad)
        named = [int(detail.split("record ", 1)[1].split(":", 1)[0]) for detail in build.skip_details]
        assert named == expected_bad[: len(named)]
