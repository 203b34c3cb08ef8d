"""`POST /admin/users/{user_id}/imports/zip`: upload a Spotify export for the collector to import.

The request body is parsed as a stream (python-multipart's push parser over `request.stream()`): the ZIP goes
to UPLOAD_DIR chunk by chunk, hashed on the way, and the upload is cut off with 413 the moment it passes
IMPORT_MAX_ZIP_SIZE_MB — nothing is buffered in memory or in a temporary spool, and nothing is left behind.
The endpoint only stores the file and creates the `app.import_jobs` row (`pending`), and wakes the collector
(`core.wakeup`, delivered on commit), which claims it at once (spec §5.2) and deletes the stored copy once the
import has ended (the ZIP holds IP addresses, which are never kept). serve never imports ingest (DESIGN §3),
so the row is written here with the shared tables. Messages name the file as the person named it.

With `?preview=true` the row starts `preview` instead: the collector previews the file (ingest.imports.preview_jobs;
nothing written to raw) and the job waits `previewed` until `…/confirm` (→ `pending`, imported as any upload) or
`…/discard` (→ `discarded`, the file deleted here).

Files: UPLOAD_DIR is created 0700 and every upload is written 0600 from its first byte (`O_CREAT` with the
mode, never a chmod after the fact). An upload in progress is `.upload-<random>.part`, held under an
exclusive `flock` until it is renamed to its final name, so that `sweep_uploads` (run when the API starts)
can tell the part files of interrupted uploads (no lock: the process that wrote them is gone) from those
another API process is still writing, and removes only the former — with stored ZIPs whose import job has
ended (the collector stopped between finishing a job and deleting its file) or that no job refers to. Files of
jobs waiting for or showing a preview are kept (the collector discards a preview left a day, deleting its file).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
import uuid
from datetime import datetime
from pathlib import Path, PurePath
from typing import Annotated, Final

import anyio
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.settings import Settings
from core.wakeup import wake_collector
from serve.admin_service import imports as import_service
from serve.admin_service.common import ServiceError
from serve.api.deps import AdminDep, SessionDep, SettingsDep
from serve.api.errors import AppError, Conflict, NotFound, PayloadTooLarge, Unprocessable
from serve.bounds import RowId

router = APIRouter(tags=["imports"])
logger = logging.getLogger("serve.api.imports")

FIELD_NAME: Final = "file"
_ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06")
# Last.fm scrobbles and older ListenBrainz exports are not zipped; the importer tells them by content. They are
# stored under the same `<random>.zip` name as a ZIP (the name is never read; the sweep finds them by it).
_SCROBBLE_SUFFIXES: Final = (".csv", ".json", ".jsonl")
PART_GLOB: Final = ".upload-*.part"
# A stored ZIP that no job refers to is kept this long (its job row may be on its way) before it is swept.
_ORPHAN_GRACE_SECONDS: Final = 3600.0
_PART_GRACE_SECONDS: Final = 10.0


def _create_part(path: Path) -> int:
    """A new file readable by its owner only, locked (LOCK_EX) while this process writes it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_if_abandoned(path: Path, *, now: float) -> bool:
    """Remove a part file no process holds (its upload was interrupted). False when an upload still writes it,
    or when it was created a moment ago (between its creation and its lock, microseconds apart)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        if now - os.fstat(fd).st_mtime < _PART_GRACE_SECONDS:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another API process is receiving it
        try:
            path.unlink()  # while locked: the name is unique (O_EXCL), so no new upload can be using it
        except FileNotFoundError:
            return False
        return True
    finally:
        os.close(fd)


def _sweep_parts(upload_dir: Path, now: float) -> list[Path]:
    return [path for path in sorted(upload_dir.glob(PART_GLOB)) if _remove_if_abandoned(path, now=now)]


async def sweep_uploads(settings: Settings, engine: AsyncEngine) -> list[Path]:
    """Run when the API starts: remove the part files of interrupted uploads, and stored ZIPs whose import job
    has ended (or that no job refers to, after an hour). Returns what was removed; never raises (a sweep that
    cannot run must not keep the API from starting; the next start tries again)."""
    upload_dir = settings.effective_upload_dir
    removed: list[Path] = []
    try:
        if not await anyio.Path(upload_dir).is_dir():
            return removed
        now = time.time()
        removed += await anyio.to_thread.run_sync(_sweep_parts, upload_dir, now)
        stored = await anyio.to_thread.run_sync(lambda: sorted(upload_dir.glob("*.zip")))
        if stored:
            jobs = tables.import_jobs
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(jobs.c.storage_path, jobs.c.status).where(
                        jobs.c.storage_path.in_([str(path) for path in stored])
                    )
                )
                status = {str(row.storage_path): str(row.status) for row in rows}
            for path in stored:
                state = status.get(str(path))
                # A previewed upload waits for its person (the collector discards it after a day, deleting it).
                if state in ("pending", "running", "preview", "previewed"):
                    continue
                if state is None and now - (await anyio.Path(path).stat()).st_mtime < _ORPHAN_GRACE_SECONDS:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    await anyio.Path(path).unlink()
                    removed.append(path)
    except (OSError, SQLAlchemyError) as error:
        logger.warning("could not clean up UPLOAD_DIR %s: %s", upload_dir, error)
    for path in removed:
        logger.info("removed %s from UPLOAD_DIR (an interrupted upload, or an import that has ended)", path.name)
    return removed


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class ImportJob(BaseModel):
    id: int = Field(description="Import job id.")
    user_id: uuid.UUID
    status: str = Field(
        description="`pending` until a collector takes it, then running|success|error|partial; with `preview=true`: "
        "`preview` until the collector has previewed it, then `previewed` (confirm or discard it)."
    )
    origin: str = Field(description="`upload` for this endpoint.")
    original_filename: str | None
    file_size_bytes: int
    file_sha256: str
    uploaded_at: datetime


class _Upload:
    """Push-parser state: headers of the current part, data of the `file` part waiting to be written."""

    def __init__(self) -> None:
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.in_file = False
        self.seen_file = False
        self.filename: str | None = None
        self.pending: list[bytes] = []

    def on_part_begin(self) -> None:
        self.headers = {}
        self.in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = b""
        self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if options.get(b"name") == FIELD_NAME.encode() and not self.seen_file:
            self.in_file = True
            self.seen_file = True
            raw_name = options.get(b"filename")
            if raw_name:
                # Only the base name of what the browser sent, never a path, and no control characters (a NUL could
                # not even be stored): the name is only shown to people.
                text = raw_name.decode("utf-8", "replace").replace("\\", "/")
                printable = "".join(char for char in text if char.isprintable())
                self.filename = PurePath(printable).name[:255] or None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.pending.append(data[start:end])

    def on_part_end(self) -> None:
        self.in_file = False


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            f"send the export as multipart/form-data with the ZIP in the field `{FIELD_NAME}` "
            f"(e.g. curl -F {FIELD_NAME}=@my_spotify_data.zip …)"
        )
    return boundary


@router.post(
    "/admin/users/{user_id}/imports/zip",
    status_code=202,
    response_model=ImportJob,
    summary="Upload a Spotify data export (ZIP) to import",
    description=(
        "Multipart upload (field `file`) of the ZIP from Spotify's *Download your data* (extended streaming "
        "history or account data), a ListenBrainz export (ZIP, or its older .json) or Last.fm scrobbles "
        "(.csv/.json). The file is stored and a pending import job is returned; the collector "
        "imports it. With `preview=true` nothing is imported yet: the collector previews the file (job status "
        "`preview`, then `previewed` with the preview in GET /admin/import-jobs/{id}), and the import runs once "
        "confirmed (POST /admin/import-jobs/{id}/confirm) or the file is deleted (…/discard). "
        "Larger than IMPORT_MAX_ZIP_SIZE_MB: 413."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [FIELD_NAME],
                        "properties": {FIELD_NAME: {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def upload_export_zip(
    user_id: Annotated[uuid.UUID, PathParam(description="The user the export belongs to.")],
    request: Request,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    preview: Annotated[
        bool, Query(description="preview first: nothing is imported until the job is confirmed (or discarded)")
    ] = False,
) -> ImportJob:
    exists = (await session.execute(select(tables.users.c.id).where(tables.users.c.id == user_id))).first()
    if exists is None:
        raise NotFound(f"no user {user_id}; create the user first (POST /admin/users) or pick another id")
    boundary = _boundary(request)
    cap = settings.import_max_zip_size_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap + 64 * 1024:
        raise _too_large(settings.import_max_zip_size_mb)

    upload_dir = settings.effective_upload_dir
    # 0700 when created here (parents get the default mode); an existing folder is left as it is.
    await anyio.Path(upload_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = upload_dir / f".upload-{uuid.uuid4().hex}.part"
    state = _Upload()
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": state.on_part_begin,
            "on_part_data": state.on_part_data,
            "on_part_end": state.on_part_end,
            "on_header_field": state.on_header_field,
            "on_header_value": state.on_header_value,
            "on_header_end": state.on_header_end,
            "on_headers_finished": state.on_headers_finished,
        },
    )
    digest = hashlib.sha256()
    size = 0
    head = b""
    stored = upload_dir / f"{uuid.uuid4().hex}.zip"
    try:
        fd = await anyio.to_thread.run_sync(_create_part, partial)
        # The lock lives as long as the file is open: it is renamed to its final name before it is closed.
        async with await anyio.open_file(fd, "wb") as handle:
            async for chunk in request.stream():
                _feed(parser, chunk)
                for piece in state.pending:
                    size += len(piece)
                    if size > cap:
                        raise _too_large(settings.import_max_zip_size_mb)
                    if len(head) < 4:
                        head += piece[: 4 - len(head)]
                    digest.update(piece)
                    await handle.write(piece)
                state.pending.clear()
            _feed(parser, None)
            if not state.seen_file:
                raise Unprocessable(f"no file in the upload: send the ZIP in the multipart field `{FIELD_NAME}`")
            shown = state.filename or "the uploaded file"
            if size == 0:
                raise Unprocessable(f"{shown} is empty")
            if head not in _ZIP_MAGIC and not (state.filename or "").lower().endswith(_SCROBBLE_SUFFIXES):
                raise Unprocessable(
                    f'{shown} is not a ZIP, a .csv or a .json; upload the .zip from Spotify\'s "Download your data" '
                    "or a ListenBrainz export unchanged, or Last.fm scrobbles as .csv or .json"
                )
            await handle.flush()
            await anyio.Path(partial).rename(stored)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            await anyio.Path(partial).unlink()
        raise
    try:
        row = (
            (
                await session.execute(
                    insert(tables.import_jobs)
                    .values(
                        user_id=user_id,
                        storage_path=str(stored),
                        original_filename=state.filename,
                        origin="upload",
                        status="preview" if preview else "pending",
                        file_size_bytes=size,
                        file_sha256=digest.hexdigest(),
                    )
                    .returning(tables.import_jobs)
                )
            )
            .mappings()
            .one()
        )
        await wake_collector(await session.connection(), "import")  # delivered when this commits
        await session.commit()  # visible to the collector before we answer
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            await anyio.Path(stored).unlink()
        raise
    return ImportJob(
        id=row["id"],
        user_id=row["user_id"],
        status=row["status"],
        origin=row["origin"],
        original_filename=row["original_filename"],
        file_size_bytes=row["file_size_bytes"],
        file_sha256=row["file_sha256"],
        uploaded_at=row["uploaded_at"],
    )


def _service_error(error: ServiceError) -> AppError:
    return NotFound(error.message) if error.kind == "not_found" else Conflict(error.message)


@router.post(
    "/admin/import-jobs/{import_job_id}/confirm",
    response_model=import_service.ImportJob,
    summary="Import a previewed upload",
    description="A `previewed` job becomes `pending` and the collector imports it. 409 when the job is not "
    "previewed (still being previewed, already answered, or not uploaded for a preview).",
)
async def confirm_import(import_job_id: RowId, _admin: AdminDep, session: SessionDep) -> import_service.ImportJob:
    try:
        await import_service.confirm_import_job(session, import_job_id)
    except ServiceError as error:
        raise _service_error(error) from None
    await wake_collector(await session.connection(), "import")  # delivered when this commits
    await session.commit()
    return await import_service.get_import_job(session, import_job_id)


@router.post(
    "/admin/import-jobs/{import_job_id}/discard",
    response_model=import_service.ImportJob,
    summary="Discard an upload waiting for or showing its preview",
    description="The job ends `discarded` and its stored file is deleted; nothing was imported. 409 when the job "
    "is not in `preview` or `previewed`.",
)
async def discard_import(
    import_job_id: RowId, _admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> import_service.ImportJob:
    try:
        stored = Path(await import_service.discard_import_job(session, import_job_id))
    except ServiceError as error:
        raise _service_error(error) from None
    await session.commit()
    if stored.parent == settings.effective_upload_dir:  # only an upload of ours, never a path elsewhere
        with contextlib.suppress(FileNotFoundError):
            await anyio.Path(stored).unlink()
    return await import_service.get_import_job(session, import_job_id)


def _feed(parser: MultipartParser, chunk: bytes | None) -> None:
    """One chunk into the multipart parser (None: the end); a malformed body is the client's error, not ours."""
    try:
        if chunk is None:
            parser.finalize()
        else:
            parser.write(chunk)
    except MultipartParseError as error:
        raise Unprocessable(
            f"the upload is not a valid multipart/form-data body ({error}); send the ZIP as the form field "
            f"`{FIELD_NAME}`, e.g. curl -F {FIELD_NAME}=@my_spotify_data.zip",
            details={"fields": [{"field": "body", "problem": "not valid multipart/form-data"}]},
        ) from None


def _too_large(limit_mb: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the upload is larger than the limit of {limit_mb} MB (IMPORT_MAX_ZIP_SIZE_MB); nothing was stored. "
        "Split the export or raise the limit",
        details={"limit_mb": limit_mb},
    )
