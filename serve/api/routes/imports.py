"""`POST /admin/users/{user_id}/imports/zip`: upload a Spotify export for the collector to import.

The request body is parsed as a stream (python-multipart's push parser over `request.stream()`): the ZIP goes
to UPLOAD_DIR chunk by chunk, hashed on the way, and the upload is cut off with 413 the moment it passes
IMPORT_MAX_ZIP_SIZE_MB — nothing is buffered in memory or in a temporary spool, and nothing is left behind.
The endpoint only stores the file and creates the `app.import_jobs` row (`pending`); the collector claims it
(spec §5.2) and deletes the stored copy once the import has ended (the ZIP holds IP addresses, which are
never kept). serve never imports ingest (DESIGN §3), so the row is written here with the shared tables.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Final

import anyio
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import insert, select

from core import tables
from serve.api.deps import AdminDep, SessionDep, SettingsDep
from serve.api.errors import AppError, NotFound, PayloadTooLarge, Unprocessable

router = APIRouter(tags=["imports"])

FIELD_NAME: Final = "file"
_ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06")


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class ImportJob(BaseModel):
    id: int = Field(description="Import job id.")
    user_id: uuid.UUID
    status: str = Field(description="`pending` until a collector takes it, then running|success|error|partial.")
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
                # Only the base name of what the browser sent, never a path.
                self.filename = PurePath(raw_name.decode("utf-8", "replace").replace("\\", "/")).name[:255] or None

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
        "history or account data). The file is stored and a pending import job is returned; the collector "
        "imports it. Larger than IMPORT_MAX_ZIP_SIZE_MB: 413."
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
    await anyio.Path(upload_dir).mkdir(parents=True, exist_ok=True)
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
    try:
        async with await anyio.open_file(partial, "wb") as handle:
            async for chunk in request.stream():
                parser.write(chunk)
                for piece in state.pending:
                    size += len(piece)
                    if size > cap:
                        raise _too_large(settings.import_max_zip_size_mb)
                    if len(head) < 4:
                        head += piece[: 4 - len(head)]
                    digest.update(piece)
                    await handle.write(piece)
                state.pending.clear()
            parser.finalize()
        if not state.seen_file:
            raise Unprocessable(f"no file in the upload: send the ZIP in the multipart field `{FIELD_NAME}`")
        if size == 0:
            raise Unprocessable("the uploaded file is empty")
        if head not in _ZIP_MAGIC:
            raise Unprocessable(
                'the uploaded file is not a ZIP; upload the .zip file from Spotify\'s "Download your data" unchanged'
            )
        job_id_hint = uuid.uuid4().hex
        stored = upload_dir / f"{job_id_hint}.zip"
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
                        file_size_bytes=size,
                        file_sha256=digest.hexdigest(),
                    )
                    .returning(tables.import_jobs)
                )
            )
            .mappings()
            .one()
        )
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


def _too_large(limit_mb: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the upload is larger than the limit of {limit_mb} MB (IMPORT_MAX_ZIP_SIZE_MB); nothing was stored. "
        "Split the export or raise the limit",
        details={"limit_mb": limit_mb},
    )
