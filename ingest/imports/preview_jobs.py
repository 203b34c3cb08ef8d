"""The preview step of an upload (issue 21), run by the collector: the API cannot read an export (serve never
imports ingest, DESIGN §3), so an upload with `?preview=true` is queued as an import job in status `preview`.

The collector previews it with `preview.preview_import` (the same reading as `spotify-mcp import --dry-run`; nothing
written to raw) and stores the result in `import_jobs.preview`, the job `previewed`: the person then confirms it
(the API sets it `pending`, the normal import runs) or discards it (`discarded`, the file deleted). A file the
import would refuse ends the job `error` with the import's message, and its file is deleted.

A preview is claimed by setting its heartbeat (no status of its own): a worker that dies mid-preview leaves a stale
heartbeat and another takes it over; a preview is read-only, so doing it twice costs time, never rows. A previewed job
nobody answers within `PREVIEW_KEPT_FOR` is discarded here (the collector runs every few minutes; the API's sweep
only runs at its start), and its file deleted: an export holds personal data nobody asked to keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.log import log_context, redact_text
from core.settings import Settings
from ingest.imports.errors import ImportRejected
from ingest.imports.jobs import STALE_AFTER
from ingest.imports.preview import preview_import

logger = logging.getLogger("ingest.imports")

PREVIEW_KEPT_FOR: Final = timedelta(days=1)

_CLAIM = text(
    """
    UPDATE app.import_jobs SET heartbeat_at = now()
    WHERE id = (
        SELECT id FROM app.import_jobs
        WHERE status = 'preview'
          AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => :stale))
        ORDER BY uploaded_at, id
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
    RETURNING id, user_id, storage_path, original_filename
    """
)
_PREVIEWED = text(
    "UPDATE app.import_jobs SET status = 'previewed', preview = CAST(:preview AS jsonb), format_detected = :format, "
    "finished_at = now(), heartbeat_at = now() WHERE id = :id AND status = 'preview'"
)
_FAILED = text(
    "UPDATE app.import_jobs SET status = 'error', error_message = :message, finished_at = now(), heartbeat_at = now() "
    "WHERE id = :id AND status = 'preview'"
)
_BEAT = text("UPDATE app.import_jobs SET heartbeat_at = now() WHERE id = :id AND status = 'preview'")
_EXPIRE = text(
    "UPDATE app.import_jobs SET status = 'discarded', error_message = :message, heartbeat_at = now() "
    "WHERE status = 'previewed' AND finished_at < now() - make_interval(secs => :kept) RETURNING id, storage_path"
)


@dataclass(frozen=True, slots=True)
class _PreviewJob:
    id: int
    user_id: uuid.UUID
    storage_path: Path
    original_filename: str | None


def _delete_upload(settings: Settings, path: Path) -> None:
    """An uploaded copy is deleted once nothing will import it (only a file in UPLOAD_DIR, never another)."""
    if path.resolve().parent == settings.effective_upload_dir.resolve():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def _claim(engine: AsyncEngine) -> _PreviewJob | None:
    async with engine.begin() as connection:
        row = (await connection.execute(_CLAIM, {"stale": STALE_AFTER.total_seconds()})).first()
    if row is None:
        return None
    return _PreviewJob(int(row.id), row.user_id, Path(row.storage_path), row.original_filename)


async def _beat(engine: AsyncEngine, job_id: int) -> None:
    """Keep the claim fresh while a long preview reads (another collector would otherwise take it over)."""
    while True:
        await asyncio.sleep(STALE_AFTER.total_seconds() / 4)
        async with engine.begin() as connection:
            await connection.execute(_BEAT, {"id": job_id})


async def preview_job(engine: AsyncEngine, settings: Settings, job: _PreviewJob) -> str:
    """Preview one claimed job; returns its new status (`previewed`, `error`, or `discarded` when the person
    discarded it meanwhile)."""
    name = job.original_filename or job.storage_path.name
    message: str | None = None
    with log_context(user_id=job.user_id, import_job_id=job.id):
        beating = asyncio.create_task(_beat(engine, job.id))
        try:
            preview = await preview_import(engine, settings, job.storage_path, name=name, user_id=job.user_id)
        except ImportRejected as rejected:
            message = rejected.message
        except FileNotFoundError:
            # Discarded (its file deleted) before the preview opened it: the job is no longer ours to end.
            logger.info("import job %s: %s was deleted before its preview (discarded)", job.id, name)
            message = f"{name} was deleted before its preview"
        except Exception as error:
            logger.exception("preview of import job %s failed unexpectedly", job.id)
            message = f"unexpected error while previewing {name}: {type(error).__name__}: {error}"
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a failed beat only loses freshness
                await beating
        async with engine.begin() as connection:
            if message is None:
                stored = await connection.execute(
                    _PREVIEWED,
                    {"id": job.id, "preview": json.dumps(preview.as_json()), "format": preview.format_detected},
                )
            else:
                stored = await connection.execute(_FAILED, {"id": job.id, "message": redact_text(message)})
        if stored.rowcount == 0:  # discarded meanwhile (the API deleted its file): nothing left to record
            logger.info("import job %s was discarded while its preview ran", job.id)
            return "discarded"
        if message is None:
            logger.info(
                "import job %s previewed: %s, %s records (%s)",
                job.id,
                name,
                preview.records,
                ", ".join(f"{s.source}: {s.new} new, {s.known} known" for s in preview.sources) or "nothing",
            )
            return "previewed"
        logger.error("import job %s refused at its preview: %s", job.id, message)
        _delete_upload(settings, job.storage_path)
        return "error"


async def expire_previews(engine: AsyncEngine, settings: Settings) -> list[int]:
    """Discard previewed jobs nobody answered within `PREVIEW_KEPT_FOR`, deleting their files."""
    hours = int(PREVIEW_KEPT_FOR.total_seconds() // 3600)
    async with engine.begin() as connection:
        rows = (
            await connection.execute(
                _EXPIRE,
                {
                    "kept": PREVIEW_KEPT_FOR.total_seconds(),
                    "message": f"discarded: the preview was neither imported nor discarded within {hours} hours",
                },
            )
        ).all()
    for row in rows:
        _delete_upload(settings, Path(row.storage_path))
        logger.info("import job %s discarded: its preview waited more than %s hours", row.id, hours)
    return [int(row.id) for row in rows]


async def process_pending_previews(engine: AsyncEngine, settings: Settings) -> int:
    """Expire forgotten previews, then preview every job waiting for it. Returns how many were previewed."""
    await expire_previews(engine, settings)
    done = 0
    while (job := await _claim(engine)) is not None:
        await preview_job(engine, settings, job)
        done += 1
    return done
