"""The upload endpoint end to end over real HTTP: store, hash, queue, import; caps and refusals leave nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports.worker import process_pending_imports
from serve.api.app import create_app
from serve.api.routes.imports import sweep_uploads
from tests.conftest import ADMIN_TOKEN
from tests.fixtures import exports
from tests.fixtures.exports.helpers import create_user, fetch, job_row, with_overrides
from tests.live_server import live_server

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _files(upload_dir: Path) -> list[str]:
    return sorted(p.name for p in upload_dir.iterdir()) if upload_dir.exists() else []


async def test_upload_then_collector_imports(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    user = await create_user(engine)
    data = exports.extended_export(tmp_path / "my_spotify_data.zip").read_bytes()
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            response = await client.post(
                f"/admin/users/{user}/imports/zip",
                headers=AUTH,
                files={"file": ("C:\\Users\\me\\Downloads\\my_spotify_data.zip", data, "application/zip")},
            )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "pending" and job["origin"] == "upload" and job["user_id"] == str(user)
    assert job["original_filename"] == "my_spotify_data.zip"
    assert job["file_size_bytes"] == len(data)
    assert job["file_sha256"] == hashlib.sha256(data).hexdigest()
    row = await job_row(engine, job["id"])
    stored = Path(row["storage_path"])
    assert stored.parent == settings.effective_upload_dir and _read(stored) == data

    assert await process_pending_imports(engine, settings, worker_id="collector") == 9
    done = await job_row(engine, job["id"])
    assert done["status"] == "success" and done["records_ingested"] == 9
    assert _read(stored) is None  # the uploaded copy (it holds IP addresses) is removed once imported
    assert _files(settings.effective_upload_dir) == []


def _multipart_chunks(boundary: str, total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    sent = 0
    first = True
    while sent < total:
        size = min(chunk, total - sent)
        yield (b"PK\x03\x04" + b"\0" * (size - 4)) if first else b"\0" * size
        first = False
        sent += size
    yield f"\r\n--{boundary}--\r\n".encode()


async def _streamed(boundary: str, total: int) -> AsyncIterator[bytes]:
    for chunk in _multipart_chunks(boundary, total):
        yield chunk


async def test_size_cap_enforced_while_streaming(engine: AsyncEngine, settings: Settings, database_url: str) -> None:
    capped = with_overrides(settings, IMPORT_MAX_ZIP_SIZE_MB="1")
    user = await create_user(engine)
    boundary = uuid.uuid4().hex
    headers = AUTH | {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    with live_server(create_app(capped, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            # Chunked (no Content-Length): the cap is found while streaming.
            streamed = await client.post(
                f"/admin/users/{user}/imports/zip",
                headers=headers,
                content=_streamed(boundary, 1_300_000),
            )
            # With a Content-Length over the cap: refused before reading.
            declared = await client.post(
                f"/admin/users/{user}/imports/zip",
                headers=headers,
                content=b"".join(_multipart_chunks(boundary, 1_300_000)),
            )
            # Just under the cap passes.
            fits = await client.post(
                f"/admin/users/{user}/imports/zip", headers=headers, content=_streamed(boundary, 1_000_000)
            )
    for response in (streamed, declared):
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "payload_too_large"
        assert "larger than the limit of 1 MB" in error["message"] and "nothing was stored" in error["message"]
    assert fits.status_code == 202, fits.text
    jobs = await fetch(engine, "SELECT storage_path FROM app.import_jobs")
    assert len(jobs) == 1  # only the upload that fits; the refused ones left no row and no file
    assert _files(capped.effective_upload_dir) == [Path(jobs[0]["storage_path"]).name]


async def test_refusals_store_nothing(engine: AsyncEngine, settings: Settings, database_url: str) -> None:
    user = await create_user(engine)
    zip_bytes = exports.zip_bytes({"endsong_0.json": []})
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            url = f"/admin/users/{user}/imports/zip"
            no_auth = await client.post(url, files={"file": ("a.zip", zip_bytes)})
            unknown_user = await client.post(
                f"/admin/users/{uuid.uuid4()}/imports/zip", headers=AUTH, files={"file": ("a.zip", zip_bytes)}
            )
            not_zip = await client.post(url, headers=AUTH, files={"file": ("a.zip", b"%PDF-1.4 not a zip")})
            empty = await client.post(url, headers=AUTH, files={"file": ("a.zip", b"")})
            wrong_field = await client.post(url, headers=AUTH, files={"upload": ("a.zip", zip_bytes)})
            not_multipart = await client.post(url, headers=AUTH, content=zip_bytes)
    assert no_auth.status_code == 401
    assert unknown_user.status_code == 404 and "no user" in unknown_user.json()["error"]["message"]
    assert not_zip.status_code == 422 and "not a ZIP" in not_zip.json()["error"]["message"]
    assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
    assert wrong_field.status_code == 422 and "`file`" in wrong_field.json()["error"]["message"]
    assert not_multipart.status_code == 415 and "multipart/form-data" in not_multipart.json()["error"]["message"]
    assert _files(settings.effective_upload_dir) == []
    assert await fetch(engine, "SELECT 1 FROM app.import_jobs") == []


async def test_uploads_are_private_and_removed_when_their_import_fails(
    engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    """Issue 16.9: the stored ZIP (it holds IP addresses) is readable by its owner only from its first byte,
    and deleted when its job ends, failed as well as done."""
    user = await create_user(engine)
    not_history = exports.zip_bytes({"Userdata.json": {"username": "x"}})
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            response = await client.post(
                f"/admin/users/{user}/imports/zip", headers=AUTH, files={"file": ("export.zip", not_history)}
            )
    assert response.status_code == 202, response.text
    upload_dir = settings.effective_upload_dir
    stored = Path((await job_row(engine, response.json()["id"]))["storage_path"])
    assert _mode(stored) == 0o600
    assert _mode(upload_dir) == 0o700  # created by the upload

    await process_pending_imports(engine, settings, worker_id="collector")
    job = await job_row(engine, response.json()["id"])
    assert job["status"] == "error" and "no Spotify streaming history" in job["error_message"]
    assert _read(stored) is None and _files(upload_dir) == []


async def _paused(boundary: str, proceed: asyncio.Event, started: asyncio.Event) -> AsyncIterator[bytes]:
    chunks = list(_multipart_chunks(boundary, 200_000))
    for chunk in chunks[:2]:
        yield chunk
    started.set()
    await proceed.wait()
    for chunk in chunks[2:]:
        yield chunk


async def test_what_interrupted_uploads_and_stopped_collectors_left_is_removed_at_start(
    engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    """Issue 16.9: `.upload-*.part` files of interrupted uploads are removed when the API starts, and so are
    stored ZIPs whose job has ended; what another API process is still receiving, and the files of queued
    jobs, stay."""
    user = await create_user(engine)
    upload_dir = settings.effective_upload_dir
    upload_dir.mkdir(parents=True)
    long_ago = time.time() - 7200
    interrupted = upload_dir / ".upload-0123456789abcdef.part"
    interrupted.write_bytes(b"PK\x03\x04 half an upload")
    os.utime(interrupted, (long_ago, long_ago))
    files = {}
    for name, status in (("done", "success"), ("failed", "error"), ("queued", "pending"), ("running", "running")):
        files[name] = upload_dir / f"{name}.zip"
        files[name].write_bytes(b"PK\x03\x04")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO app.import_jobs (user_id, storage_path, origin, file_size_bytes, status) "
                    "VALUES (:u, :p, 'upload', 4, :s)"
                ),
                {"u": user, "p": str(files[name]), "s": status},
            )
    files["orphan_old"] = upload_dir / "orphan-old.zip"
    files["orphan_old"].write_bytes(b"PK\x03\x04")
    os.utime(files["orphan_old"], (long_ago, long_ago))
    files["orphan_new"] = upload_dir / "orphan-new.zip"  # its job row may be on its way: kept for now
    files["orphan_new"].write_bytes(b"PK\x03\x04")

    with live_server(create_app(settings, database_url)):
        pass

    assert not interrupted.exists()
    assert {name for name, path in files.items() if path.exists()} == {"queued", "running", "orphan_new"}

    # An upload in progress (in another API process) is never taken for an interrupted one, however old.
    boundary = uuid.uuid4().hex
    proceed, started = asyncio.Event(), asyncio.Event()
    headers = AUTH | {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    with live_server(create_app(settings, database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            upload = asyncio.create_task(
                client.post(
                    f"/admin/users/{user}/imports/zip", headers=headers, content=_paused(boundary, proceed, started)
                )
            )
            await started.wait()
            for _ in range(200):
                parts = list(upload_dir.glob(".upload-*.part"))
                if parts and parts[0].stat().st_size > 0:
                    break
                await asyncio.sleep(0.01)
            [part] = parts
            assert _mode(part) == 0o600
            os.utime(part, (long_ago, long_ago))
            assert await sweep_uploads(settings, engine) == []
            assert part.exists()
            proceed.set()
            response = await upload
    assert response.status_code == 202, response.text
    stored = Path((await job_row(engine, response.json()["id"]))["storage_path"])
    assert _read(part) is None and _read(stored) is not None
