"""The preview step of an upload over real HTTP and real PostgreSQL (issue 21): upload with `preview=true`, the
collector previews it (nothing written to raw), then the person confirms (the import runs) or discards (the file is
deleted, nothing imported); refused files, forgotten previews and the API's start-up sweep."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports import preview_jobs
from ingest.imports.worker import process_pending_imports
from serve.api.app import create_app
from serve.api.routes.imports import sweep_uploads
from tests.conftest import ADMIN_TOKEN
from tests.fixtures import exports
from tests.fixtures.exports import scrobbles as sx
from tests.fixtures.exports.helpers import create_user, fetch, job_row
from tests.live_server import live_server

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
_RAW = ("raw.export_records", "raw.scrobbles")


def _exists(path: Path) -> bool:
    return path.exists()


async def _raw_counts(engine: AsyncEngine) -> dict[str, int]:
    return {table: (await fetch(engine, f"SELECT count(*) AS n FROM {table}"))[0]["n"] for table in _RAW}


async def _upload(client: httpx.AsyncClient, user: object, name: str, data: bytes) -> dict[str, Any]:
    response = await client.post(
        f"/admin/users/{user}/imports/zip", params={"preview": "true"}, headers=AUTH, files={"file": (name, data)}
    )
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


async def test_preview_then_confirm_imports_and_a_second_preview_finds_it_known(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    user = await create_user(engine)
    data = exports.extended_export(tmp_path / "my_spotify_data.zip").read_bytes()
    empty = await _raw_counts(engine)
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            job = await _upload(client, user, "my_spotify_data.zip", data)
            assert job["status"] == "preview"
            early = await client.post(f"/admin/import-jobs/{job['id']}/confirm", headers=AUTH)
            assert early.status_code == 409 and "not ready yet" in early.json()["error"]["message"]

            assert await process_pending_imports(engine, settings, worker_id="collector") == 0
            assert await _raw_counts(engine) == empty  # the preview writes nothing
            shown = (await client.get(f"/admin/import-jobs/{job['id']}", headers=AUTH)).json()
            assert shown["status"] == "previewed" and shown["format_detected"] == "streaming_history"
            preview = shown["preview"]
            # The importer's figures for this export (test_import_formats): 11 records, 9 new, 1 repeated, 1 skipped.
            assert preview["records"] == 11 and preview["skipped"] == {"no_item": 1}
            assert preview["sources"] == [
                {"source": "spotify_export", "new": 9, "known": 0, "repeated": 1, "in_spotify_history": None}
            ]
            assert preview["earliest"].startswith("2023-01-01") and preview["latest"].startswith("2024-03-01")
            assert sum(file["records"] for file in preview["files"]) == 11 and preview["name"] == "my_spotify_data.zip"
            stored = Path((await job_row(engine, job["id"]))["storage_path"])
            assert _exists(stored)

            confirmed = await client.post(f"/admin/import-jobs/{job['id']}/confirm", headers=AUTH)
            assert confirmed.status_code == 200 and confirmed.json()["status"] == "pending", confirmed.text
            assert await process_pending_imports(engine, settings, worker_id="collector") == 9
            done = await job_row(engine, job["id"])
            assert done["status"] == "success" and done["records_ingested"] == 9 and not _exists(stored)
            assert (await _raw_counts(engine))["raw.export_records"] == 9
            twice = await client.post(f"/admin/import-jobs/{job['id']}/confirm", headers=AUTH)
            assert twice.status_code == 409

            again = await _upload(client, user, "my_spotify_data.zip", data)
            await process_pending_imports(engine, settings, worker_id="collector")
            second = (await client.get(f"/admin/import-jobs/{again['id']}", headers=AUTH)).json()
            assert second["status"] == "previewed"
            assert [(s["new"], s["known"]) for s in second["preview"]["sources"]] == [(0, 9)]


async def test_discard_deletes_the_file_and_imports_nothing(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    user = await create_user(engine)
    data = exports.extended_export(tmp_path / "export.zip").read_bytes()
    empty = await _raw_counts(engine)
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            waiting = await _upload(client, user, "first.zip", data)  # discarded before its preview
            previewed = await _upload(client, user, "second.zip", data)
            jobs = (waiting, previewed)
            paths = {job["id"]: Path((await job_row(engine, job["id"]))["storage_path"]) for job in jobs}
            gone = await client.post(f"/admin/import-jobs/{waiting['id']}/discard", headers=AUTH)
            assert gone.status_code == 200 and gone.json()["status"] == "discarded"
            await process_pending_imports(engine, settings, worker_id="collector")
            assert (await job_row(engine, waiting["id"]))["status"] == "discarded"  # not previewed after all
            assert (await job_row(engine, previewed["id"]))["status"] == "previewed"
            dropped = await client.post(f"/admin/import-jobs/{previewed['id']}/discard", headers=AUTH)
            assert dropped.status_code == 200 and dropped.json()["status"] == "discarded"
            late = await client.post(f"/admin/import-jobs/{previewed['id']}/confirm", headers=AUTH)
            assert late.status_code == 409 and "upload the file again" in late.json()["error"]["message"]
            missing = await client.post("/admin/import-jobs/999999/discard", headers=AUTH)
            assert missing.status_code == 404
    await process_pending_imports(engine, settings, worker_id="collector")
    assert not any(_exists(path) for path in paths.values())
    assert await _raw_counts(engine) == empty


async def test_a_refused_file_fails_at_its_preview_with_the_import_message(
    engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    user = await create_user(engine)
    no_history = exports.zip_bytes({"MyData/Userdata.json": {"username": "x"}})
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            job = await _upload(client, user, "holiday photos.zip", no_history)
    stored = Path((await job_row(engine, job["id"]))["storage_path"])
    await process_pending_imports(engine, settings, worker_id="collector")
    failed = await job_row(engine, job["id"])
    assert failed["status"] == "error" and "holiday photos.zip" in failed["error_message"]
    assert failed["preview"] is None and not _exists(stored)


async def test_previews_are_kept_by_the_sweep_and_forgotten_ones_discarded_after_a_day(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    user = await create_user(engine)
    data = exports.extended_export(tmp_path / "export.zip").read_bytes()
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            fresh = await _upload(client, user, "fresh.zip", data)
            old = await _upload(client, user, "old.zip", data)
    await process_pending_imports(engine, settings, worker_id="collector")
    paths = {job["id"]: Path((await job_row(engine, job["id"]))["storage_path"]) for job in (fresh, old)}
    hour_ago = time.time() - 7200  # older than the sweep's grace for files no job refers to
    for path in paths.values():
        os.utime(path, (hour_ago, hour_ago))
    assert await sweep_uploads(settings, engine) == []  # a previewed upload waits for its person
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE app.import_jobs SET finished_at = now() - interval '25 hours' WHERE id = :id"),
            {"id": old["id"]},
        )
    await process_pending_imports(engine, settings, worker_id="collector")
    expired = await job_row(engine, old["id"])
    assert expired["status"] == "discarded" and "within 24 hours" in expired["error_message"]
    assert not _exists(paths[old["id"]])
    assert (await job_row(engine, fresh["id"]))["status"] == "previewed" and _exists(paths[fresh["id"]])


async def test_a_scrobbles_preview_names_its_skips_and_the_confirmed_import_adds_what_it_said(
    engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    user = await create_user(engine)
    weeks = [(f"2023-03-0{day}T20:00:00", "Artist", "Album", f"Track {day}") for day in range(1, 8)]
    csv = sx.lastfm_csv([*weeks, weeks[0], (0, "A", "B", "C")]).encode()
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            job = await _upload(client, user, "scrobbles-alice-1.csv", csv)
            await process_pending_imports(engine, settings, worker_id="collector")
            preview = (await client.get(f"/admin/import-jobs/{job['id']}", headers=AUTH)).json()["preview"]
            assert preview["format_detected"] == "lastfm" and preview["times_are"] == "start"
            assert [(s["source"], s["new"], s["known"], s["repeated"]) for s in preview["sources"]] == [
                ("lastfm", 7, 0, 1)
            ]
            assert preview["skipped"] == {"out_of_range": 1} and "record 9" in preview["skip_details"][0]
            assert await _raw_counts(engine) == {"raw.export_records": 0, "raw.scrobbles": 0}
            confirmed = await client.post(f"/admin/import-jobs/{job['id']}/confirm", headers=AUTH)
            assert confirmed.status_code == 200, confirmed.text
    await process_pending_imports(engine, settings, worker_id="collector")
    assert (await job_row(engine, job["id"]))["status"] == "success"
    assert (await _raw_counts(engine))["raw.scrobbles"] == preview["sources"][0]["new"]


async def test_a_preview_discarded_while_it_runs_stays_discarded(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    user = await create_user(engine)
    data = exports.extended_export(tmp_path / "export.zip").read_bytes()
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            job = await _upload(client, user, "export.zip", data)
            claimed = await preview_jobs._claim(engine)  # the collector has taken it …
            assert claimed is not None and claimed.id == job["id"]
            dropped = await client.post(f"/admin/import-jobs/{job['id']}/discard", headers=AUTH)  # … and it goes
            assert dropped.status_code == 200
    assert await preview_jobs.preview_job(engine, settings, claimed) == "discarded"
    row = await job_row(engine, job["id"])
    assert row["status"] == "discarded" and row["preview"] is None and row["error_message"] is None
