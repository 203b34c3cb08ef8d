"""What lands from real-world exports (issue 15, items 3, 6, 7): implausible times skipped with a reason,
content kinds by fields, formats by keys (renamed files, account audiobooks), members of the same name."""

from __future__ import annotations

import json
import warnings
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports.worker import process_pending_imports
from tests.fixtures.exports import account_music, account_podcast, audiobook, build_zip, episode, extended
from tests.fixtures.exports.helpers import create_user, fetch, job_row, queue_zip, run_row

AUDIO = "Spotify Extended Streaming History/Streaming_History_Audio_2023_0.json"
VIDEO = "Spotify Extended Streaming History/Streaming_History_Video_2019-2024.json"


def _minutes(count: int, *, start: int = 0, ms: int = 200_000) -> list[dict[str, object]]:
    base = datetime(2023, 3, 1, tzinfo=UTC)
    return [
        extended((base + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"), ms + n)
        for n in range(start, start + count)
    ]


async def test_out_of_range_times_are_skipped_the_rest_imports_and_the_job_says_why(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """Issue 15.3: `0001-01-01` used to land as -infinity and wedge every transform after it."""
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = _minutes(5)
    records.insert(1, extended("0001-01-01T00:00:00Z", 1_000))
    records.insert(3, extended(future, 2_000))
    records.append(extended("0000-01-01T00:00:00Z", 3_000))
    account = [account_music("2024-02-01 10:00", 200_000), account_music("1970-01-01 00:00", 5_000)]
    user = await create_user(engine)
    music = "Spotify Account Data/StreamingHistory_music_0.json"
    path = build_zip(tmp_path / "x.zip", {AUDIO: records, music: account})
    job_id = await queue_zip(engine, user, path)

    assert await process_pending_imports(engine, settings, worker_id="w") == 6

    rows = await fetch(engine, "SELECT played_at FROM raw.export_records ORDER BY played_at")
    assert len(rows) == 6
    assert all(datetime(2006, 4, 23, tzinfo=UTC) <= row["played_at"] <= datetime.now(UTC) for row in rows)
    job = await job_row(engine, job_id)
    assert job["status"] == "success" and job["records_total"] == 10 and job["records_ingested"] == 6
    assert job["earliest_played_at"] == datetime(2023, 3, 1, tzinfo=UTC)
    stats = (await run_row(engine, job["job_run_id"]))["stats"]
    assert stats["skipped"] == {"out_of_range": 4}
    details = stats["skipped_details"]
    assert len(details) == 4
    assert details[0] == (
        "Spotify Account Data/StreamingHistory_music_0.json, record 2: `endTime` '1970-01-01 00:00' is before "
        "2006-04-23, when Spotify launched; skipped"
    )
    assert details[1].startswith(f"{AUDIO}, record 2: `ts` '0001-01-01T00:00:00Z' is before 2006-04-23")
    assert details[2].startswith(f"{AUDIO}, record 4: `ts` '{future}' is more than 1 day in the future")
    assert details[3].startswith(f"{AUDIO}, record 8: `ts` '0000-01-01T00:00:00Z'")


async def test_video_file_rows_are_music_and_podcasts_by_their_fields(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """Issue 15.6: real Streaming_History_Video_* files hold ordinary music and podcast rows."""
    video = [
        extended("2023-05-01T10:00:00Z", 180_000),
        episode("2023-05-01T11:00:00Z", 900_000, name="Video Podcast Ep", show="A Video Podcast"),
        audiobook("2023-05-01T12:00:00Z", 600_000),
    ]
    user = await create_user(engine)
    await queue_zip(engine, user, build_zip(tmp_path / "v.zip", {VIDEO: video}))
    assert await process_pending_imports(engine, settings, worker_id="w") == 3
    rows = await fetch(engine, "SELECT content_kind, track_id, show_name FROM raw.export_records ORDER BY played_at")
    assert [(row["content_kind"], row["track_id"], row["show_name"]) for row in rows] == [
        ("track", "4uLU6hMCjMI75M1A2tKUQC", None),
        ("episode", None, "A Video Podcast"),
        ("audiobook", None, None),
    ]


async def test_renamed_history_files_are_found_by_their_keys(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """Issue 15.7: the file name is only a hint; files renamed by the user are imported by their content."""
    members = {
        "my music/history 2023.json": _minutes(3),  # extended history, renamed
        "backup/StreamingHistory_music_0 (1).json": [account_music("2024-02-01 10:00", 200_000)],
        "podcasts.json": [account_podcast("2024-02-02 06:30", 1_200_000)],
        # Named like account data, holding extended records: read as what it holds.
        "StreamingHistory_music_1.json": [extended("2023-04-01T10:00:00Z", 90_000)],
        # Not history: left alone.
        "Spotify Account Data/SearchQueries.json": [{"platform": "ANDROID", "searchTime": "x", "searchQuery": "y"}],
        "Spotify Account Data/Userdata.json": {"username": "someone"},
        "Spotify Account Data/Empty.json": [],
        "notes.txt": b"Streaming history of 2023",
    }
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, build_zip(tmp_path / "renamed.zip", members))
    assert await process_pending_imports(engine, settings, worker_id="w") == 6
    rows = await fetch(
        engine, "SELECT source_file, source_format, content_kind FROM raw.export_records ORDER BY played_at"
    )
    assert {(row["source_file"], row["source_format"], row["content_kind"]) for row in rows} == {
        ("my music/history 2023.json", "extended", "track"),
        ("StreamingHistory_music_1.json", "extended", "track"),
        ("backup/StreamingHistory_music_0 (1).json", "account", "track"),
        ("podcasts.json", "account", "episode"),
    }
    job = await job_row(engine, job_id)
    assert job["format_detected"] == "mixed"
    stats = (await run_row(engine, job["job_run_id"]))["stats"]
    assert sorted(stats["files"]) == sorted(
        [
            "my music/history 2023.json",
            "backup/StreamingHistory_music_0 (1).json",
            "podcasts.json",
            "StreamingHistory_music_1.json",
        ]
    )
    assert stats["files_ignored"] == 4


async def test_account_audiobook_history_is_imported(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    """Issue 15.7: StreamingHistory_audiobook_<n>.json (account data) was not recognised."""
    books = [
        {"endTime": "2024-05-01 21:15", "audiobookName": "The Book", "chapterName": "Chapter 1", "msPlayed": 1_800_000},
        {"endTime": "2024-05-02 21:40", "audiobookName": "The Book", "chapterName": "Chapter 2", "msPlayed": 1_500_000},
    ]
    user = await create_user(engine)
    job_id = await queue_zip(
        engine, user, build_zip(tmp_path / "a.zip", {"Spotify Account Data/StreamingHistory_audiobook_0.json": books})
    )
    assert await process_pending_imports(engine, settings, worker_id="w") == 2
    rows = await fetch(
        engine, "SELECT content_kind, audiobook_title, audiobook_chapter_title FROM raw.export_records ORDER BY 3"
    )
    assert [tuple(row.values()) for row in rows] == [
        ("audiobook", "The Book", "Chapter 1"),
        ("audiobook", "The Book", "Chapter 2"),
    ]
    assert (await job_row(engine, job_id))["format_detected"] == "streaming_history"


async def test_two_members_of_the_same_name_are_both_imported(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """Issue 15.7: a ZIP with two members of the same name silently dropped one (30 of 80 records lost)."""
    path = tmp_path / "twice.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns "Duplicate name": that is the point
        archive.writestr(AUDIO, json.dumps(_minutes(30)))
        archive.writestr(AUDIO, json.dumps(_minutes(50, start=30)))
    with zipfile.ZipFile(path) as archive:
        assert [info.filename for info in archive.infolist()] == [AUDIO, AUDIO]
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, path)
    assert await process_pending_imports(engine, settings, worker_id="w") == 80
    assert len(await fetch(engine, "SELECT 1 FROM raw.export_records")) == 80
    stats = (await run_row(engine, (await job_row(engine, job_id))["job_run_id"]))["stats"]
    assert (stats["files_processed"], stats["records_read"], stats["duplicates"]) == (2, 80, 0)
