"""ListenBrainz and Last.fm exports land in raw.scrobbles through the worker entry point (issue 21)."""

from __future__ import annotations

import json
import os
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports.scrobbles import record_key
from ingest.imports.worker import process_pending_imports
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures import exports
from tests.fixtures.exports import scrobbles as sx
from tests.fixtures.exports.helpers import create_user, fetch, job_row, queue_zip, run_row, with_overrides
from tests.live_server import live_server


async def _import(engine: AsyncEngine, settings: Settings, user: object, path: Path) -> tuple[dict, dict]:  # type: ignore[type-arg]
    job_id = await queue_zip(engine, user, path)  # type: ignore[arg-type]
    await process_pending_imports(engine, settings, worker_id="test")
    job = await job_row(engine, job_id)
    run = await run_row(engine, job["job_run_id"])
    return job, run


async def test_listenbrainz_export(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    user = await create_user(engine)
    path = sx.listenbrainz_zip(
        tmp_path / "listenbrainz_alice_1700000000.zip",
        {
            "2023/1": [
                sx.listen("2023-01-01T10:00:00"),
                sx.listen("2023-01-01T10:04:00", track="Other", spotify_id=None, duration_ms=None, mapping=False),
                sx.listen("2023-01-01T10:08:00", artist=None),  # no artist: skipped
            ],
            "2023/2": sx.jsonl([sx.listen("2023-02-01T09:00:00", track="Feb")])
            + '{"listened_at": 1675242000, "track_metadata": {"artist_na\n'  # a line cut off
            + json.dumps({"listened_at": 1675242100, "track_metadata": "not an object"})
            + "\n"
            + json.dumps(sx.listen(1_000, track="Epoch zero"))  # 1970: not a scrobble; no final newline
            + "\n"
            + json.dumps(sx.listen("2023-02-02T09:00:00", track="Last")),
        },
    )

    job, run = await _import(engine, settings, user, path)

    assert job["status"] == "success", job["error_message"]
    assert job["format_detected"] == "listenbrainz"
    rows = await fetch(engine, "SELECT * FROM raw.scrobbles WHERE user_id = :u ORDER BY started_at", u=user)
    assert [row["track_name"] for row in rows] == ["Song", "Other", "Feb", "Last"]
    first = rows[0]
    assert first["source"] == "listenbrainz"
    assert first["started_at"] == datetime(2023, 1, 1, 10, 0, tzinfo=UTC)
    assert (first["artist_name"], first["album_name"]) == ("Artist", "Album")
    assert first["spotify_track_id"] == sx.SPOTIFY_ID and first["duration_ms"] == 200_000
    assert (first["recording_mbid"], first["release_mbid"], first["artist_mbid"]) == (
        sx.RECORDING_MBID,
        sx.RELEASE_MBID,
        sx.ARTIST_MBID,
    )
    assert first["record_key"] == record_key(sx.epoch("2023-01-01T10:00:00"), "Artist", "Song", "listenbrainz")
    assert first["source_file"] == "listens/2023/1.jsonl"
    other = rows[1]
    assert other["spotify_track_id"] is None and other["duration_ms"] is None and other["recording_mbid"] is None
    assert job["records_ingested"] == 4 and job["records_total"] == 8
    assert job["earliest_played_at"] == datetime(2023, 1, 1, 10, 0, tzinfo=UTC)
    stats = run["stats"]
    assert stats["skipped"] == {"no_item": 1, "bad_record": 2, "out_of_range": 1}
    details = " | ".join(stats["skipped_details"])
    assert "listens/2023/1.jsonl, record 3: no artist name" in details
    assert "listens/2023/2.jsonl, record 2: line 2 is not valid JSON" in details
    assert "record 3: line 3: Expected `object | null`, got `str` - at `$.track_metadata`" in details
    assert "record 4: `listened_at` 1000 is before 2002" in details
    assert stats["files"] == ["listens/2023/1.jsonl", "listens/2023/2.jsonl"]
    assert stats["files_ignored"] == 2  # user.json and feedback.jsonl are not read
    # Nothing identifying is kept: the user name is in every listen and in user.json.
    dumped = json.dumps(await fetch(engine, "SELECT * FROM raw.scrobbles"), default=str) + json.dumps(stats)
    assert sx.SECRET_LB_USER not in dumped and "recording_msid" not in dumped

    # Re-importing the same export adds nothing.
    again, again_run = await _import(engine, settings, user, path)
    assert again["status"] == "success"
    assert (again_run["stats"]["inserted"], again_run["stats"]["duplicates"]) == (0, 4)
    assert len(await fetch(engine, "SELECT id FROM raw.scrobbles")) == 4


async def test_lastfm_csv_json_and_overlap_with_listenbrainz(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    user = await create_user(engine)
    weeks = [(f"2023-03-0{day}T20:00:00", "Artist", "Album", f"Track {day}") for day in range(1, 8)]
    csv_path = tmp_path / "scrobbles-alice-1700000000.csv"
    csv_path.write_text(sx.lastfm_csv(weeks))
    job, run = await _import(engine, settings, user, csv_path)
    assert job["status"] == "success", job["error_message"]
    assert job["format_detected"] == "lastfm" and run["stats"]["inserted"] == 7
    row = (await fetch(engine, "SELECT * FROM raw.scrobbles ORDER BY started_at LIMIT 1"))[0]
    assert row["source"] == "lastfm" and row["track_name"] == "Track 1" and row["album_name"] == "Album"
    assert row["started_at"] == datetime(2023, 3, 1, 20, 0, tzinfo=UTC)
    assert (row["recording_mbid"], row["artist_mbid"], row["release_mbid"]) == (
        sx.RECORDING_MBID,
        sx.ARTIST_MBID,
        None,
    )

    # The same weeks from ListenBrainz (which imported the Last.fm history), names in another case, plus one
    # listen Last.fm does not have: each service's rows are stored (the warehouse pairs them, rule 4), so the
    # stored rows do not depend on which service was imported first.
    lb = sx.listenbrainz_zip(
        tmp_path / "lb.zip",
        {
            "2023/3": [sx.listen(at, artist=a.upper(), track=t.lower(), release=al) for at, a, al, t in weeks]
            + [sx.listen("2023-03-08T20:00:00", track="Only on LB")]
        },
    )
    _, lb_run = await _import(engine, settings, user, lb)
    assert (lb_run["stats"]["inserted"], lb_run["stats"]["duplicates"]) == (8, 0)

    # The JSON export of the same account (pages of API track objects, with the "now playing" entry), and the
    # headerless CSV: everything known.
    pages = [[sx.lastfm_track(None)] + [sx.lastfm_track(at, artist=a, album=al, track=t) for at, a, al, t in weeks[:4]]]
    pages.append([sx.lastfm_track(at, artist=a, album=al, track=t) for at, a, al, t in weeks[4:]])
    json_path = tmp_path / "scrobbles-alice-1700000001.json"
    json_path.write_text(json.dumps(pages))
    json_job, json_run = await _import(engine, settings, user, json_path)
    assert json_job["status"] == "success", json_job["error_message"]
    assert (json_run["stats"]["inserted"], json_run["stats"]["duplicates"]) == (0, 7)
    assert json_run["stats"]["skipped"] == {"now_playing": 1}
    plain = tmp_path / "lastfm.csv"
    plain.write_text(sx.lastfm_csv(weeks, header=False))
    plain_job, plain_run = await _import(engine, settings, user, plain)
    assert plain_job["status"] == "success", plain_job["error_message"]
    assert (plain_run["stats"]["inserted"], plain_run["stats"]["duplicates"]) == (0, 7)
    assert len(await fetch(engine, "SELECT id FROM raw.scrobbles")) == 15
    by_source = await fetch(engine, "SELECT source, count(*) AS n FROM raw.scrobbles GROUP BY 1 ORDER BY 1")
    assert [(row["source"], row["n"]) for row in by_source] == [("lastfm", 7), ("listenbrainz", 8)]


async def test_older_listenbrainz_export_is_one_json_array(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    user = await create_user(engine)
    path = tmp_path / "alice_lb-2020-05-01.json"
    path.write_text(json.dumps([sx.listen("2020-04-30T08:00:00"), sx.listen("2020-04-30T08:05:00", track="B")]))
    job, run = await _import(engine, settings, user, path)
    assert job["status"] == "success", job["error_message"]
    assert job["format_detected"] == "listenbrainz" and run["stats"]["inserted"] == 2


def _bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("listens/2023/1.jsonl", sx.jsonl([sx.listen("2023-01-01T10:00:00")]) + " " * (300 << 20))
    return path


def _corrupt(path: Path) -> Path:
    listens = [sx.listen(f"2023-01-01T{n // 60:02d}:{n % 60:02d}:00", track=f"Song {n}") for n in range(1000)]
    text = sx.jsonl(listens).encode()
    # What is declared but lost stays small: the ZIP must not look like a bomb (100x its size) by its directory.
    return exports.broken_deflate_zip(path, "listens/2023/1.jsonl", text[:300_000], text[300_000:350_000])


def _unknown_csv(path: Path) -> Path:
    path.write_text("date,amount,category\n2023-01-01,12.50,groceries\n")
    return path


def _spotify_file(path: Path) -> Path:
    path.write_text(json.dumps([exports.extended("2023-01-01T10:00:00Z", 200_000)]))
    return path


def _broken_array(path: Path) -> Path:
    text = json.dumps([sx.listen("2023-01-01T10:00:00"), sx.listen("2023-01-01T10:05:00")])
    path.write_text(text[: len(text) - 40])
    return path


def _all_bad(path: Path) -> Path:
    path.write_text(sx.lastfm_csv([(0, "A", "B", "C"), (5, "A", "B", "D")]))
    return path


def _huge_field(path: Path) -> Path:
    path.write_text(sx.lastfm_csv([("2023-01-01T10:00:00", "A", "B", "C")]) + '1672567200,x,"' + "y" * 200_000 + '"\n')
    return path


def _both(path: Path) -> Path:
    return exports.build_zip(
        path,
        {
            "Streaming_History_Audio_2023_0.json": [exports.extended("2023-01-01T10:00:00Z", 200_000)],
            "listens/2023/1.jsonl": sx.jsonl([sx.listen("2023-01-01T10:00:00")]),
        },
    )


@pytest.mark.parametrize(
    ("name", "build", "reason", "needles"),
    [
        ("bomb.zip", _bomb, "zip_bomb", ("listens/2023/1.jsonl", "zip bomb")),
        ("corrupt.zip", _corrupt, "bad_zip", ("listens/2023/1.jsonl", "cannot be unpacked")),
        ("budget.csv", _unknown_csv, "unknown_format", ("budget.csv is a CSV", "'date,amount", "Last.fm", "Spotify")),
        ("Streaming_History_Audio_2023_0.json", _spotify_file, "unknown_format", ("upload the whole ZIP",)),
        ("alice_lb.json", _broken_array, "bad_json", ("alice_lb.json is not valid JSON", "export it again")),
        ("scrobbles-a-1.csv", _all_bad, "nothing_readable", ("none of the 2 records", "before 2002")),
        ("scrobbles-b-1.csv", _huge_field, "bad_csv", ("scrobbles-b-1.csv, line 3", "field larger")),
        ("both.zip", _both, "mixed_sources", ("one at a time",)),
    ],
)
async def test_hostile_or_foreign_files_are_refused_by_name(
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
    name: str,
    build: object,
    reason: str,
    needles: tuple[str, ...],
) -> None:
    user = await create_user(engine)
    path = build(tmp_path / name)  # type: ignore[operator]
    job, run = await _import(engine, settings, user, path)
    assert job["status"] == "error"
    assert run["stats"]["reason"] == reason, job["error_message"]
    for needle in needles:
        assert needle in job["error_message"]
    assert "download the export from Spotify again" not in job["error_message"]
    assert await fetch(engine, "SELECT id FROM raw.scrobbles") == []


async def test_uploaded_lastfm_csv_is_imported(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    user = await create_user(engine)
    data = sx.lastfm_csv([("2023-03-01T20:00:00", "Artist", "Album", "Song")]).encode()
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            url = f"/admin/users/{user}/imports/zip"
            auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            accepted = await client.post(url, headers=auth, files={"file": ("scrobbles-alice-1.csv", data, "text/csv")})
            refused = await client.post(url, headers=auth, files={"file": ("notes.txt", b"hello", "text/plain")})
    assert accepted.status_code == 202, accepted.text
    assert refused.status_code == 422 and "Last.fm scrobbles as .csv or .json" in refused.json()["error"]["message"]
    await process_pending_imports(engine, settings, worker_id="test")
    job = await job_row(engine, accepted.json()["id"])
    assert job["status"] == "success" and job["format_detected"] == "lastfm", job["error_message"]
    assert [row["track_name"] for row in await fetch(engine, "SELECT track_name FROM raw.scrobbles")] == ["Song"]
    assert not os.path.exists(job["storage_path"])  # noqa: ASYNC240 - the stored copy is removed after the import


async def test_watch_folder_takes_scrobble_files(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    watch_dir = tmp_path / "watch"
    (watch_dir / "alice").mkdir(parents=True)
    user = await create_user(engine, "alice")
    watched = with_overrides(settings, IMPORT_WATCH_DIR=str(watch_dir))
    csv_path = watch_dir / "alice" / "scrobbles-alice-1.csv"
    csv_path.write_text(sx.lastfm_csv([("2023-03-01T20:00:00", "Artist", "Album", "Song")]))
    notes = watch_dir / "alice" / "notes.txt"
    notes.write_text("not an export")
    old = time.time() - 60
    os.utime(csv_path, (old, old))
    os.utime(notes, (old, old))

    assert await process_pending_imports(engine, watched, worker_id="w") == 1

    rows = await fetch(engine, "SELECT user_id, source, track_name FROM raw.scrobbles")
    assert rows == [{"user_id": user, "source": "lastfm", "track_name": "Song"}]
    assert (watch_dir / "done" / "scrobbles-alice-1.csv").exists()
    assert notes.exists()  # only export-like files are taken


async def test_a_failure_mid_file_keeps_nothing_of_the_import(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    user = await create_user(engine)
    small_batches = with_overrides(settings, IMPORT_BATCH_SIZE="100")
    rows = [(sx.epoch("2023-03-01T20:00:00") + 600 * n, "Artist", "Album", f"Track {n}") for n in range(3000)]
    path = tmp_path / "scrobbles-alice-1.csv"
    path.write_bytes(sx.lastfm_csv(rows).encode() + b"1672567200,x,\xff\xfe,,y,,z,\n")
    job_id = await queue_zip(engine, user, path)
    await process_pending_imports(engine, small_batches, worker_id="w")
    job = await job_row(engine, job_id)
    run = await run_row(engine, job["job_run_id"])
    assert job["status"] == "error" and "not UTF-8" in job["error_message"]
    assert run["stats"]["rolled_back"] >= 100  # batches had landed before the bad line was reached
    assert await fetch(engine, "SELECT id FROM raw.scrobbles") == []
