"""The upload endpoint end to end over real HTTP: store, hash, queue, import; caps and refusals leave nothing."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports.worker import process_pending_imports
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures import exports
from tests.fixtures.exports.helpers import create_user, fetch, job_row, with_overrides
from tests.live_server import live_server

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


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
