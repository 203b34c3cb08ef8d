"""Normalisation without a database: identity, keys, kinds, privacy, formats, member safety."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from ingest.imports.archive import _unsafe_name
from ingest.imports.errors import ImportRejected
from ingest.imports.formats import MemberKind, classify_member, format_detected
from ingest.imports.normalize import (
    COLUMNS,
    SKIP_NO_ITEM,
    Normalizer,
    local_track_id,
    offline_timestamp_utc,
    spotify_track_id,
)
from tests.fixtures import exports

USER = uuid.UUID("00000000-0000-0000-0000-000000000001")


def _norm(kind: MemberKind = MemberKind.extended_audio, *, optional: bool = False) -> Normalizer:
    return Normalizer(USER, 7, "Streaming_History_Audio_2023.json", kind, optional)


def _row(record: dict[str, object], **kwargs: object) -> dict[str, object]:
    row = _norm(**kwargs)(record, 0)  # type: ignore[arg-type]
    assert isinstance(row, tuple)
    return dict(zip(COLUMNS, row, strict=True))


def test_local_track_id_is_exactly_the_spec_formula() -> None:
    expected = "local:" + hashlib.sha1(b"Artist|Song|Album").hexdigest()
    assert local_track_id("Artist", "Song", "Album") == expected
    assert local_track_id("Artist", "Song", None) == "local:" + hashlib.sha1(b"Artist|Song|").hexdigest()
    assert local_track_id("Café", "Ünï", "Ä") == "local:" + hashlib.sha1("Café|Ünï|Ä".encode()).hexdigest()


def test_spotify_track_id_and_offline_timestamp_units() -> None:
    assert spotify_track_id("spotify:track:4uLU6hMCjMI75M1A2tKUQC") == "4uLU6hMCjMI75M1A2tKUQC"
    assert spotify_track_id("spotify:local:Artist:Album:Song:200") is None
    assert spotify_track_id(None) is None
    assert offline_timestamp_utc(1_672_567_680) == "2023-01-01T10:08:00+00:00"
    assert offline_timestamp_utc(1_672_567_680_123) == "2023-01-01T10:08:00.123000+00:00"
    assert (
        offline_timestamp_utc(0) is None and offline_timestamp_utc(True) is None and offline_timestamp_utc("x") is None
    )


def test_sensitive_fields_never_in_a_row_even_with_optional_fields() -> None:
    for optional in (False, True):
        row = _row(exports.extended("2023-01-01T10:00:00Z", 1000, old=True), optional=optional)
        text = json.dumps(row, default=str)
        for secret in (exports.SECRET_IP_DECRYPTED, exports.SECRET_USER_AGENT, exports.SECRET_USERNAME):
            assert secret not in text
    row = _row(exports.extended("2023-01-01T10:00:00Z", 1000), optional=True)
    assert exports.SECRET_IP not in json.dumps(row, default=str)
    assert json.loads(str(row["extra"]))["country"] == "DE"
    assert _row(exports.extended("2023-01-01T10:00:00Z", 1000))["extra"] is None


def test_kinds_are_told_apart() -> None:
    assert _row(exports.extended("2023-01-01T10:00:00Z", 1))["content_kind"] == "track"
    assert _row(exports.episode("2023-01-01T10:00:00Z", 1))["content_kind"] == "episode"
    assert _row(exports.audiobook("2023-01-01T10:00:00Z", 1))["content_kind"] == "audiobook"
    assert _row(exports.episode("2023-01-01T10:00:00Z", 1), kind=MemberKind.extended_video)["content_kind"] == "video"
    empty = exports.extended("2023-01-01T10:00:00Z", 1, track=None, artist=None, album=None, uri=None)
    assert _norm()(empty, 0) == SKIP_NO_ITEM
    podcast = _row(exports.account_podcast("2024-01-01 10:00", 5))
    assert (podcast["content_kind"], podcast["show_name"], podcast["source_format"]) == (
        "episode",
        "The Show",
        "account",
    )


def test_record_key_same_play_same_key_whatever_the_spelling() -> None:
    base = _row(exports.extended("2023-01-01T10:00:00Z", 1000))
    for spelling in ("2023-01-01T10:00:00+00:00", "2023-01-01T11:00:00+01:00", "2023-01-01T10:00:00.000Z"):
        assert _row(exports.extended(spelling, 1000))["record_key"] == base["record_key"]
    assert str(base["record_key"]).startswith("2023-01-01T10:00:00Z|")
    # Old-style record of the same play (endsong, different sensitive fields) → same key.
    assert _row(exports.extended("2023-01-01T10:00:00Z", 1000, old=True))["record_key"] == base["record_key"]
    assert _row(exports.extended("2023-01-01T10:00:00Z", 1001))["record_key"] != base["record_key"]
    other = exports.extended("2023-01-01T10:00:00Z", 1000, uri="spotify:track:1301WleyT98MSxVHPZCA6M")
    assert _row(other)["record_key"] != base["record_key"]
    account = _row(exports.account_music("2023-01-01 10:00", 1000))
    assert account["record_key"] != base["record_key"]
    assert str(account["record_key"]).startswith("2023-01-01T10:00:00Z|")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("ms_played", "12", "`ms_played` should be a whole number"),
        ("ms_played", -5, "out of range"),
        ("ms_played", 1.5, "not a whole number"),
        ("ms_played", None, "`ms_played` should be a whole number"),
        ("ts", "yesterday", "`ts` is not a date-time"),
        ("ts", None, "`ts` should be a date-time text"),
        ("master_metadata_track_name", 42, "`master_metadata_track_name` should be text or null"),
    ],
)
def test_wrong_types_name_file_record_and_field(field: str, value: object, fragment: str) -> None:
    record = exports.extended("2023-01-01T10:00:00Z", 1000)
    record[field] = value
    with pytest.raises(ImportRejected) as caught:
        _norm()(record, 41)
    assert fragment in caught.value.message
    assert caught.value.message.startswith("Streaming_History_Audio_2023.json, record 42:")
    assert caught.value.record == 42


def test_whole_number_floats_and_empty_strings() -> None:
    record = exports.extended("2023-01-01T10:00:00Z", 1000, album="")
    record["ms_played"] = 1000.0
    row = _row(record)
    assert row["ms_played"] == 1000 and row["album_name"] is None


def test_member_classification_any_depth() -> None:
    cases = {
        "Spotify Extended Streaming History/Streaming_History_Audio_2014-2016_0.json": MemberKind.extended_audio,
        "a/b/Streaming_History_Video_2019-2023.json": MemberKind.extended_video,
        "MyData/endsong_12.json": MemberKind.endsong,
        "StreamingHistory_music_0.json": MemberKind.account_music,
        "x/StreamingHistory_podcast_3.json": MemberKind.account_podcast,
        "MyData/StreamingHistory0.json": MemberKind.account_legacy,
        "MyData/StreamingHistory.json": MemberKind.account_legacy,
    }
    for name, kind in cases.items():
        assert classify_member(name) is kind, name
    for ignored in (
        "ReadMeFirst_ExtendedStreamingHistory.pdf",
        "Userdata.json",
        "Playlist1.json",
        "__MACOSX/x/._endsong_0.json",
        "SearchQueries.json",
    ):
        assert classify_member(ignored) is None, ignored


def test_format_detected() -> None:
    assert format_detected([MemberKind.endsong, MemberKind.endsong]) == "endsong"
    assert format_detected([MemberKind.extended_audio, MemberKind.extended_video]) == "streaming_history"
    assert format_detected([MemberKind.account_music, MemberKind.account_podcast]) == "streaming_history"
    assert format_detected([MemberKind.endsong, MemberKind.extended_audio]) == "mixed"
    assert format_detected([MemberKind.account_legacy, MemberKind.extended_audio]) == "mixed"
    assert format_detected([]) is None


def test_unsafe_member_names() -> None:
    for name in ("../x.json", "a/../../x.json", "/etc/passwd", "C:/Windows/x.json", "..\\x.json"):
        assert _unsafe_name(name), name
    for name in ("a/b/endsong_0.json", "..hidden/x.json", "x..y.json"):
        assert not _unsafe_name(name), name
