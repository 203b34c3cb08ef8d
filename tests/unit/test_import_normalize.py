"""Normalisation without a database: identity, keys, kinds, privacy, formats, member safety."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ingest.imports.archive import _unsafe_name
from ingest.imports.errors import ImportRejected
from ingest.imports.formats import MemberKind, classify_member, format_detected, kind_from_keys
from ingest.imports.normalize import (
    COLUMNS,
    MAX_SKIP_DETAILS,
    SKIP_NO_ITEM,
    SKIP_OUT_OF_RANGE,
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
    empty = exports.extended("2023-01-01T10:00:00Z", 1, track=None, artist=None, album=None, uri=None)
    assert _norm()(empty, 0) == SKIP_NO_ITEM
    podcast = _row(exports.account_podcast("2024-01-01 10:00", 5))
    assert (podcast["content_kind"], podcast["show_name"], podcast["source_format"]) == (
        "episode",
        "The Show",
        "account",
    )


def test_kind_comes_from_the_record_not_from_the_video_file() -> None:
    """Issue 15.6: real Streaming_History_Video_* files hold ordinary music and podcast rows."""
    video = MemberKind.extended_video
    assert _row(exports.extended("2023-01-01T10:00:00Z", 1), kind=video)["content_kind"] == "track"
    assert _row(exports.episode("2023-01-01T10:00:00Z", 1), kind=video)["content_kind"] == "episode"
    assert _row(exports.audiobook("2023-01-01T10:00:00Z", 1), kind=video)["content_kind"] == "audiobook"
    # The same record gives the same row (and key) from an Audio and from a Video file.
    for record in (exports.extended("2023-01-01T10:00:00Z", 1), exports.episode("2023-01-01T10:00:00Z", 1)):
        assert _row(record, kind=video)["record_key"] == _row(record)["record_key"]


def test_account_audiobook_records() -> None:
    """Issue 15.7: StreamingHistory_audiobook_<n>.json (account data)."""
    record = {"endTime": "2024-05-01 21:15", "audiobookName": "The Book", "chapterName": "Chapter 3", "msPlayed": 9}
    row = _row(record)
    assert (row["content_kind"], row["audiobook_title"], row["audiobook_chapter_title"]) == (
        "audiobook",
        "The Book",
        "Chapter 3",
    )
    assert row["track_id"] is None and row["track_name"] is None and row["source_format"] == "account"
    assert _norm()({"endTime": "2024-05-01 21:15", "audiobookName": "", "chapterName": None, "msPlayed": 9}, 0) == (
        SKIP_NO_ITEM
    )


def test_incognito_is_part_of_the_key_and_other_keys_did_not_change() -> None:
    """Issue 15.7: an incognito play and a normal one of the same item, time and length are two rows. Every
    non-incognito record keeps the key earlier versions computed (so re-imports stay no-ops)."""
    normal = _row(exports.extended("2023-01-01T10:00:00Z", 1000, incognito=False))
    secret = _row(exports.extended("2023-01-01T10:00:00Z", 1000, incognito=True))
    unknown = _row(exports.extended("2023-01-01T10:00:00Z", 1000, incognito=None))
    assert secret["record_key"] != normal["record_key"] and secret["incognito"] is True
    assert unknown["record_key"] == normal["record_key"] and unknown["incognito"] is None
    old_formula = hashlib.sha1(b"x|track|spotify:track:4uLU6hMCjMI75M1A2tKUQC|1000").hexdigest()[:24]
    assert normal["record_key"] == f"2023-01-01T10:00:00Z|{old_formula}"
    with_flag = hashlib.sha1(b"x|track|spotify:track:4uLU6hMCjMI75M1A2tKUQC|1000|incognito").hexdigest()[:24]
    assert secret["record_key"] == f"2023-01-01T10:00:00Z|{with_flag}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ts", "0001-01-01T00:00:00Z"),  # lands as -infinity in PostgreSQL
        ("ts", "2006-04-22T23:59:59Z"),  # the day before Spotify launched
        ("ts", "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC: no date holds it
        ("ts", "0000-01-01T00:00:00Z"),
        ("ts", "10000-01-01T00:00:00Z"),
        ("ts", "9999-12-31T23:59:59Z"),
        ("ts", "+2023-01-01T00:00:00Z"),
        ("endTime", "0001-01-01 00:00"),
        ("endTime", "2999-01-01 10:00"),
    ],
)
def test_times_out_of_range_are_skipped_and_described(field: str, value: str) -> None:
    """Issue 15.3: skipped (not a whole-file rejection), counted, and named with file and record."""
    if field == "ts":
        record = exports.extended("2023-01-01T10:00:00Z", 1000)
    else:
        record = exports.account_music("2023-01-01 10:00", 1000)
    record[field] = value
    normalizer = _norm()
    assert normalizer(record, 11) == SKIP_OUT_OF_RANGE
    [detail] = normalizer.skip_details
    assert detail.startswith(f"Streaming_History_Audio_2023.json, record 12: `{field}` '{value}'"), detail
    assert "skipped" in detail


def test_time_range_bounds() -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    normalizer = Normalizer(USER, 7, "f.json", MemberKind.extended_audio, False, latest=now + timedelta(days=1))
    inside = ("2006-04-23T00:00:00Z", "2026-06-02T11:59:59Z", "2026-06-02T12:00:00+00:00")
    for ts in inside:
        assert isinstance(normalizer(exports.extended(ts, 1000), 0), tuple), ts
    for ts in ("2026-06-02T12:00:01Z", "2026-06-02T13:00:01+01:00"):
        assert normalizer(exports.extended(ts, 1000), 0) == SKIP_OUT_OF_RANGE, ts
    assert "more than 1 day in the future" in normalizer.skip_details[0]
    # Described one by one up to a cap; counted beyond it.
    for index in range(MAX_SKIP_DETAILS + 5):
        assert normalizer(exports.extended("2001-01-01T00:00:00Z", 1000), index) == SKIP_OUT_OF_RANGE
    assert len(normalizer.skip_details) == MAX_SKIP_DETAILS
    assert "before 2006-04-23, when Spotify launched" in normalizer.skip_details[-1]


def test_garbage_times_still_refuse_the_file() -> None:
    """Text that is no date at all means the file was edited: refused as before, not silently skipped."""
    for value in ("2023-13-45T00:00:00Z", "yesterday", "2023-01-01T25:00:00Z"):
        record = exports.extended("2023-01-01T10:00:00Z", 1000)
        record["ts"] = value
        with pytest.raises(ImportRejected, match="`ts` is not a date-time"):
            _norm()(record, 0)


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
        "Spotify Account Data/StreamingHistory_audiobook_0.json": MemberKind.account_audiobook,
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


def test_kind_from_the_first_record_keys_the_name_only_a_hint() -> None:
    extended_keys = list(exports.extended("2023-01-01T10:00:00Z", 1))
    account_keys = list(exports.account_music("2023-01-01 10:00", 1))
    podcast_keys = list(exports.account_podcast("2023-01-01 10:00", 1))
    audiobook_keys = ["endTime", "audiobookName", "chapterName", "msPlayed"]
    assert kind_from_keys(extended_keys, None) is MemberKind.extended_audio  # renamed: my_history.json
    assert kind_from_keys(extended_keys, MemberKind.extended_video) is MemberKind.extended_video
    assert kind_from_keys(extended_keys, MemberKind.account_music) is MemberKind.extended_audio  # content wins
    assert kind_from_keys(account_keys, None) is MemberKind.account_music
    assert kind_from_keys(podcast_keys, None) is MemberKind.account_podcast
    assert kind_from_keys(audiobook_keys, None) is MemberKind.account_audiobook
    assert kind_from_keys(account_keys, MemberKind.endsong) is MemberKind.account_music
    assert kind_from_keys(account_keys, MemberKind.account_legacy) is MemberKind.account_legacy
    # Keys that tell nothing: the name decides (None: not history).
    assert kind_from_keys(["searchTime", "searchQuery"], None) is None
    assert kind_from_keys([], MemberKind.endsong) is MemberKind.endsong


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
