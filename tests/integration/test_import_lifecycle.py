"""Idempotency, overlapping exports, crash/resume, several workers, and the watched folder."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports import jobs
from ingest.imports.worker import execute_job, process_pending_imports
from tests.fixtures import exports
from tests.fixtures.exports import build_zip, extended
from tests.fixtures.exports.helpers import create_user, fetch, job_row, queue_zip, run_row, with_overrides

AUDIO = "Spotify Extended Streaming History/Streaming_History_Audio_{}.json"


def _records(start: int, count: int) -> list[dict[str, object]]:
    return [
        extended(f"2022-03-{1 + n // 1440:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00Z", 1_000 + n)
        for n in range(start, start + count)
    ]


def _signal_when_inserted(count: int) -> tuple[asyncio.Event, Callable[[object], None]]:
    """An event set once an import's progress reports `count` rows committed, and the callback that sets it."""
    reached = asyncio.Event()

    def on_progress(progress: object) -> None:
        if getattr(progress, "inserted", 0) >= count:
            reached.set()

    return reached, on_progress


async def test_reimport_adds_nothing(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    user = await create_user(engine)
    path = exports.extended_export(tmp_path / "export.zip")
    await queue_zip(engine, user, path)
    assert await process_pending_imports(engine, settings, worker_id="w") == 9
    before = await fetch(engine, "SELECT id, record_key, ingested_at FROM raw.export_records ORDER BY id")

    again = await queue_zip(engine, user, path)
    assert await process_pending_imports(engine, settings, worker_id="w") == 0

    assert await fetch(engine, "SELECT id, record_key, ingested_at FROM raw.export_records ORDER BY id") == before
    job = await job_row(engine, again)
    assert job["status"] == "success" and job["records_ingested"] == 0 and job["records_total"] == 11
    stats = (await run_row(engine, job["job_run_id"]))["stats"]
    assert (stats["inserted"], stats["duplicates"], stats["skipped"]) == (0, 10, {"no_item": 1})


async def test_overlapping_exports_add_only_new_plays(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    small = with_overrides(settings, IMPORT_BATCH_SIZE="100")
    user = await create_user(engine)
    other = await create_user(engine, "bob")
    first = build_zip(tmp_path / "first.zip", {AUDIO.format("2022_0"): _records(0, 250)})
    # A later export: the same plays (split into files differently, older endsong naming) plus new ones.
    second = build_zip(
        tmp_path / "second.zip",
        {"x/endsong_0.json": _records(0, 120), "x/endsong_1.json": _records(120, 230)},
    )
    await queue_zip(engine, user, first)
    await queue_zip(engine, other, first)  # the same file for another user is that user's history
    assert await process_pending_imports(engine, small, worker_id="w") == 500
    second_job = await queue_zip(engine, user, second)
    assert await process_pending_imports(engine, small, worker_id="w") == 100
    counts = await fetch(engine, "SELECT user_id, count(*) AS n FROM raw.export_records GROUP BY user_id")
    assert {row["user_id"]: row["n"] for row in counts} == {user: 350, other: 250}
    job = await job_row(engine, second_job)
    assert job["records_ingested"] == 100 and job["format_detected"] == "endsong"


async def test_crash_mid_import_then_resume(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    small = with_overrides(settings, IMPORT_BATCH_SIZE="100")
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, build_zip(tmp_path / "x.zip", {AUDIO.format("2022"): _records(0, 450)}))
    job = await jobs.claim_job(engine, worker_id="dies", only_id=job_id)
    assert job is not None
    committed, on_progress = _signal_when_inserted(200)

    task = asyncio.create_task(execute_job(engine, small, job, progress_callback=on_progress))
    await committed.wait()
    task.cancel()  # the worker "dies": no finish, the job stays `running`
    with contextlib.suppress(asyncio.CancelledError):
        await task
    partial = await job_row(engine, job_id)
    assert partial["status"] == "running" and 200 <= partial["records_ingested"] < 450

    # Fresh heartbeat: nobody else may take it.
    assert await process_pending_imports(engine, small, worker_id="other") == 0
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE app.import_jobs SET heartbeat_at = now() - interval '10 minutes' WHERE id = :id"),
            {"id": job_id},
        )
    inserted = await process_pending_imports(engine, small, worker_id="other")

    done = await job_row(engine, job_id)
    assert done["status"] == "success" and done["records_ingested"] == 450
    assert inserted == 450 - partial["records_ingested"]
    assert (await fetch(engine, "SELECT count(*) AS n FROM raw.export_records"))[0]["n"] == 450
    runs = await fetch(engine, "SELECT id, status, worker_id, error_message FROM app.job_runs ORDER BY id")
    assert [(run["status"], run["worker_id"]) for run in runs] == [("error", "dies"), ("success", "other")]
    assert "restarted as run" in runs[0]["error_message"]
    assert done["job_run_id"] == runs[1]["id"]


async def test_user_deleted_during_an_import_leaves_no_rows(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """export_records has no per-row foreign key (migration 0003): the per-batch user lock and the delete
    trigger must still leave nothing behind when the user goes away mid-import."""
    small = with_overrides(settings, IMPORT_BATCH_SIZE="100")
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, build_zip(tmp_path / "x.zip", {AUDIO.format("2022"): _records(0, 900)}))
    job = await jobs.claim_job(engine, worker_id="w", only_id=job_id)
    assert job is not None
    committed, on_progress = _signal_when_inserted(200)

    async def delete_user() -> None:
        await committed.wait()
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM app.users WHERE id = :id"), {"id": user})

    outcome, _ = await asyncio.gather(execute_job(engine, small, job, progress_callback=on_progress), delete_user())
    assert outcome.status == "error"
    assert outcome.message is not None and "deleted" in outcome.message
    assert (await fetch(engine, "SELECT count(*) AS n FROM raw.export_records"))[0]["n"] == 0


async def test_import_leaves_the_ingested_at_brin_index_summarized(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """Unsummarized BRIN ranges are read by every watermark scan of the transform; the import summarizes the
    ones it filled rather than waiting for autovacuum (off on some servers)."""
    user = await create_user(engine)
    await queue_zip(engine, user, build_zip(tmp_path / "x.zip", {AUDIO.format("2022"): _records(0, 8000)}))
    assert await process_pending_imports(engine, settings, worker_id="w") == 8000
    pages = (await fetch(engine, "SELECT pg_relation_size('raw.export_records') / 8192 AS n"))[0]["n"]
    assert pages > 2 * 128  # more than one full block range was filled
    left = await fetch(engine, "SELECT brin_summarize_new_values('raw.ix_export_records_ingested_at') AS n")
    assert left[0]["n"] == 0


async def test_superseded_worker_leaves_the_new_run_alone(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    small = with_overrides(settings, IMPORT_BATCH_SIZE="100")
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, build_zip(tmp_path / "x.zip", {AUDIO.format("2022"): _records(0, 300)}))
    stale = await jobs.claim_job(engine, worker_id="paused", only_id=job_id)
    assert stale is not None
    async with engine.begin() as connection:  # the first worker stalls past the heartbeat limit ...
        await connection.execute(
            text("UPDATE app.import_jobs SET heartbeat_at = now() - interval '10 minutes' WHERE id = :id"),
            {"id": job_id},
        )
    assert await process_pending_imports(engine, small, worker_id="new") == 300  # ... and is taken over
    outcome = await execute_job(engine, small, stale)  # then wakes up
    assert outcome.status == "error"
    done = await job_row(engine, job_id)
    assert done["status"] == "success" and done["records_ingested"] == 300
    assert (await fetch(engine, "SELECT count(*) AS n FROM raw.export_records"))[0]["n"] == 300
    old_run = await run_row(engine, stale.job_run_id)
    assert old_run["status"] == "error" and "superseded" in old_run["error_message"]


async def test_two_workers_take_each_job_once(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    ids = []
    for number in range(4):
        user = await create_user(engine, f"user{number}")
        ids.append(await queue_zip(engine, user, exports.endsong_export(tmp_path / f"{number}.zip")))
    totals = await asyncio.gather(
        process_pending_imports(engine, settings, worker_id="a"),
        process_pending_imports(engine, settings, worker_id="b"),
    )
    assert sum(totals) == 12
    runs = await fetch(engine, "SELECT stats->>'import_job_id' AS job, status FROM app.job_runs")
    assert sorted(int(run["job"]) for run in runs) == ids
    assert {run["status"] for run in runs} == {"success"}


def _settle(path: Path) -> Path:
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


async def test_watch_folder_takes_each_file_once(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    watch_dir = tmp_path / "watch"
    watch_dir.mkdir()
    watched = with_overrides(settings, IMPORT_WATCH_DIR=str(watch_dir))
    _settle(exports.account_export(watch_dir / "my_spotify_data.zip"))
    fresh = exports.endsong_export(watch_dir / "still_copying.zip")  # too recent: left for the next scan

    totals = await asyncio.gather(
        process_pending_imports(engine, watched, worker_id="a"),
        process_pending_imports(engine, watched, worker_id="b"),
        process_pending_imports(engine, watched, worker_id="c"),
    )

    assert sum(totals) == 4
    job_rows = await fetch(engine, "SELECT * FROM app.import_jobs")
    assert len(job_rows) == 1
    job = job_rows[0]
    assert job["origin"] == "watch" and job["status"] == "success" and len(job["file_sha256"]) == 64
    assert Path(job["storage_path"]) == watch_dir / "done" / "my_spotify_data.zip"
    assert (watch_dir / "done" / "my_spotify_data.zip").exists()
    assert fresh.exists()
    users = await fetch(engine, "SELECT display_name, spotify_user_id FROM app.users")
    assert users == [{"display_name": "local", "spotify_user_id": None}]  # created for a ZIP-only install

    # The same export dropped again is recognised by its sha256 and not imported twice.
    shutil.copyfile(watch_dir / "done" / "my_spotify_data.zip", watch_dir / "again.zip")
    _settle(watch_dir / "again.zip")
    os.utime(fresh, (time.time() - 60, time.time() - 60))
    assert await process_pending_imports(engine, watched, worker_id="a") == 3  # only the endsong one
    assert (watch_dir / "done" / "again.zip").exists()
    assert len(await fetch(engine, "SELECT 1 FROM app.import_jobs")) == 2
    assert sorted(p.name for p in (watch_dir / "processing").iterdir()) == []


async def test_watch_folder_failures_and_per_user_folders(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    watch_dir = tmp_path / "watch"
    (watch_dir / "bob").mkdir(parents=True)
    (watch_dir / "nobody").mkdir()
    watched = with_overrides(settings, IMPORT_WATCH_DIR=str(watch_dir))
    await create_user(engine, "alice")
    bob = await create_user(engine, "bob")
    _settle(exports.endsong_export(watch_dir / "bob" / "bobs.zip"))
    _settle(exports.endsong_export(watch_dir / "nobody" / "x.zip"))
    _settle(exports.endsong_export(watch_dir / "top.zip"))  # two users: whose?
    broken = watch_dir / "bob" / "broken.zip"
    broken.write_bytes(b"not a zip")
    _settle(broken)

    assert await process_pending_imports(engine, watched, worker_id="w") == 3

    assert await fetch(engine, "SELECT DISTINCT user_id FROM raw.export_records") == [{"user_id": bob}]
    failed = sorted(p.name for p in (watch_dir / "failed").iterdir())
    assert failed == ["broken.zip", "broken.zip.error.txt", "top.zip", "top.zip.error.txt", "x.zip", "x.zip.error.txt"]
    assert "not a readable ZIP" in (watch_dir / "failed" / "broken.zip.error.txt").read_text()
    assert "sub-folder" in (watch_dir / "failed" / "top.zip.error.txt").read_text()
    assert "`nobody`" in (watch_dir / "failed" / "x.zip.error.txt").read_text()
    assert (watch_dir / "done" / "bobs.zip").exists()


async def test_file_left_in_processing_by_a_dead_collector_is_retaken(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    watch_dir = tmp_path / "watch"
    (watch_dir / "processing").mkdir(parents=True)
    watched = with_overrides(settings, IMPORT_WATCH_DIR=str(watch_dir))
    user = await create_user(engine, "solo")
    # Renamed into processing/ by a collector that died before it created the job.
    lost = exports.endsong_export(watch_dir / "processing" / "0123456789ab__lost.zip")
    old = time.time() - 3600
    os.utime(lost, (old, old))
    recent = exports.endsong_export(watch_dir / "processing" / "ba9876543210__inflight.zip")  # someone's, just now

    assert await process_pending_imports(engine, watched, worker_id="w") == 3

    assert (watch_dir / "done" / "lost.zip").exists()
    assert recent.exists()  # not old enough to be an orphan
    rows = await fetch(engine, "SELECT user_id, origin, original_filename, status FROM app.import_jobs")
    assert rows == [{"user_id": user, "origin": "watch", "original_filename": "lost.zip", "status": "success"}]
