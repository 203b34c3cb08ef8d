"""Every export format lands in raw.export_records, normalised, through the worker entry point."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports.normalize import local_track_id
from ingest.imports.worker import process_pending_imports
from tests.fixtures import exports
from tests.fixtures.exports.helpers import create_user, fetch, job_row, queue_zip, run_row, with_overrides


async def test_extended_history_every_kind_and_quirk(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, exports.extended_export(tmp_path / "my_spotify_data.zip"))

    inserted = await process_pending_imports(engine, settings, worker_id="test-1")

    rows = await fetch(
        engine, "SELECT * FROM raw.export_records WHERE user_id = :u ORDER BY played_at, ms_played", u=user
    )
    # 11 records: one exact duplicate collapses, one with no item named is skipped.
    assert inserted == len(rows) == 9
    kinds = sorted(row["content_kind"] for row in rows)
    # The Video file's record is an episode by its fields (issue 15.6): no record says it is a video.
    assert kinds == ["audiobook", "episode", "episode", "track", "track", "track", "track", "track", "track"]
    first = next(row for row in rows if row["ms_played"] == 200_000)
    assert first["track_id"] == "4uLU6hMCjMI75M1A2tKUQC"
    assert first["spotify_uri"] == "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    assert first["played_at"] == datetime(2023, 1, 1, 10, 0, tzinfo=UTC)
    assert (first["track_name"], first["artist_name"], first["album_name"]) == ("Song", "Artist", "Album")
    assert first["source_format"] == "extended" and first["incognito"] is False
    assert first["extra"] is None  # optional fields are off by default
    assert first["source_file"].endswith("Streaming_History_Audio_2023_0.json")
    same_ts = [row for row in rows if row["played_at"] == datetime(2023, 1, 1, 10, 0, tzinfo=UTC)]
    assert len(same_ts) == 2
    zero = next(row for row in rows if row["played_at"] == datetime(2023, 1, 1, 10, 5, tzinfo=UTC))
    assert zero["ms_played"] == 0
    local = next(row for row in rows if row["track_name"] == "Local File")
    assert local["track_id"] == local_track_id("Me", "Local File", "Home")
    assert local["track_id"].startswith("local:") and len(local["track_id"]) == 46
    assert local["spotify_uri"] is None
    assert next(row for row in rows if row["ms_played"] == 45_000)["incognito"] is True
    ep = next(row for row in rows if row["content_kind"] == "episode" and row["episode_name"] == "Ep 1")
    assert (ep["episode_name"], ep["show_name"], ep["track_id"]) == ("Ep 1", "The Show", None)
    assert ep["spotify_uri"] == "spotify:episode:0Q86acNRm6V9GYx55SXKwf"
    book = next(row for row in rows if row["content_kind"] == "audiobook")
    assert (book["audiobook_title"], book["audiobook_chapter_title"]) == ("The Book", "Chapter 1")
    video = next(row for row in rows if row["source_file"].endswith("Streaming_History_Video_2023.json"))
    assert video["episode_name"] == "Video Ep" and video["content_kind"] == "episode"

    # The local track is registered for enrichment with source import_zip.
    tracks = await fetch(engine, "SELECT track_id, name, album_name, source FROM raw.tracks")
    assert tracks == [
        {"track_id": local["track_id"], "name": "Local File", "album_name": "Home", "source": "import_zip"}
    ]

    job = await job_row(engine, job_id)
    assert job["status"] == "success" and job["format_detected"] == "streaming_history"
    assert job["records_ingested"] == 9 and job["records_total"] == 11
    assert job["earliest_played_at"] == datetime(2023, 1, 1, 10, 0, tzinfo=UTC)
    assert job["latest_played_at"] == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    run = await run_row(engine, job["job_run_id"])
    assert run["job_type"] == "import_zip" and run["status"] == "success" and run["worker_id"] == "test-1"
    stats = run["stats"]
    assert stats["files_processed"] == 3 and stats["files_ignored"] == 1
    assert (stats["records_read"], stats["inserted"], stats["duplicates"]) == (11, 9, 1)
    assert stats["skipped"] == {"no_item": 1}


async def test_optional_fields_only_when_enabled(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    enabled = with_overrides(settings, IMPORT_STORE_OPTIONAL_FIELDS="true")
    user = await create_user(engine)
    await queue_zip(engine, user, exports.extended_export(tmp_path / "x.zip"))
    await process_pending_imports(engine, enabled, worker_id="w")
    rows = await fetch(engine, "SELECT ms_played, extra FROM raw.export_records ORDER BY played_at, ms_played")
    by_ms = {row["ms_played"]: row["extra"] for row in rows}
    assert by_ms[200_000] == {
        "reason_start": "trackdone",
        "reason_end": "endplay",
        "platform": "Android OS 13 API 33 (Google, Pixel 7)",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "country": "DE",
        "offline_timestamp": "2023-11-14T22:13:20+00:00",  # 1_700_000_000 seconds
        "incognito_mode": False,
    }
    # offline_timestamp in milliseconds and in seconds both become the right instant.
    assert by_ms[45_000]["offline_timestamp"] == "2023-01-01T10:08:00.123000+00:00"
    assert by_ms[180_000]["offline_timestamp"] == "2024-03-01T11:53:20+00:00"
    assert all(
        not set(extra) & {"ip_addr", "ip_addr_decrypted", "user_agent_decrypted", "username"}
        for extra in by_ms.values()
    )


async def test_endsong_format(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, exports.endsong_export(tmp_path / "old.zip"))
    assert await process_pending_imports(engine, settings, worker_id="w") == 3
    job = await job_row(engine, job_id)
    assert job["format_detected"] == "endsong" and job["status"] == "success"
    rows = await fetch(
        engine, "SELECT track_id, content_kind, source_format FROM raw.export_records ORDER BY played_at"
    )
    assert [row["track_id"] for row in rows] == [
        "4uLU6hMCjMI75M1A2tKUQC",
        "7GhIk7Il098yCjg4BQjzvb",
        "4uLU6hMCjMI75M1A2tKUQC",
    ]
    assert {row["source_format"] for row in rows} == {"extended"}


async def test_account_data_music_and_podcast(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, exports.account_export(tmp_path / "acct.zip"))
    assert await process_pending_imports(engine, settings, worker_id="w") == 4
    rows = await fetch(engine, "SELECT * FROM raw.export_records ORDER BY played_at, ms_played")
    assert [(row["content_kind"], row["ms_played"]) for row in rows] == [
        ("track", 3_000),
        ("track", 200_000),
        ("track", 0),
        ("episode", 1_200_000),
    ]
    song = rows[1]
    assert song["played_at"] == datetime(2024, 2, 1, 10, 0, tzinfo=UTC)
    assert song["source_format"] == "account" and song["album_name"] is None and song["spotify_uri"] is None
    assert song["track_id"] == local_track_id("Artist", "Song", None)
    assert rows[3]["show_name"] == "The Show" and rows[3]["episode_name"] == "Ep 1" and rows[3]["track_id"] is None
    job = await job_row(engine, job_id)
    assert job["format_detected"] == "streaming_history"
    run = await run_row(engine, job["job_run_id"])
    assert run["stats"]["files_ignored"] == 3  # Userdata.json, Playlist1.json, the PDF


async def test_legacy_account_data_nested_deep(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, exports.legacy_account_export(tmp_path / "legacy.zip"))
    assert await process_pending_imports(engine, settings, worker_id="w") == 3
    rows = await fetch(engine, "SELECT track_name, artist_name, source_file FROM raw.export_records ORDER BY played_at")
    assert [row["track_name"] for row in rows] == ["Old Song", "An Episode", "Song"]
    assert rows[0]["source_file"] == "a/b/c/MyData/StreamingHistory0.json"
    assert (await job_row(engine, job_id))["format_detected"] == "streaming_history"


async def test_mixed_zip(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, exports.mixed_export(tmp_path / "mixed.zip"))
    assert await process_pending_imports(engine, settings, worker_id="w") == 3
    job = await job_row(engine, job_id)
    assert job["format_detected"] == "mixed"
    run = await run_row(engine, job["job_run_id"])
    assert json.dumps(run["stats"]["files"]) == json.dumps(
        ["acct/StreamingHistory_music_0.json", "new/Streaming_History_Audio_2020.json", "old/endsong_0.json"]
    )
