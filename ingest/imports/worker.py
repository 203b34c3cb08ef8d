"""What the collector's run loop calls first (spec §7B priority 1): take watched files, run pending imports.

`process_pending_imports` never raises for a bad export: the job ends as `error` with its message, its rows
are rolled back, and the collector carries on with the other users. Only a lost database connection
propagates (the run loop retries it on its next cycle; the job's heartbeat goes stale and another worker,
or this one, restarts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from core.log import log_context
from core.settings import Settings
from ingest.imports import jobs, preview_jobs, watch
from ingest.imports.errors import ImportRejected
from ingest.imports.pipeline import ImportResult, ProgressCallback, run_import
from ingest.imports.scrobble_pipeline import run_scrobble_import
from ingest.imports.sources import detect

logger = logging.getLogger("ingest.imports")


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job_id: int
    status: str
    inserted: int
    message: str | None
    result: ImportResult | None


async def execute_job(
    engine: AsyncEngine,
    settings: Settings,
    job: jobs.ClaimedJob,
    *,
    progress_callback: ProgressCallback | None = None,
    parser: str = "msgspec",
) -> JobOutcome:
    """Run a claimed job to its end and record the outcome (import_jobs, job_runs, logs, files)."""
    name = job.original_filename or job.storage_path.name
    with log_context(user_id=job.user_id, job_run_id=job.job_run_id, import_job_id=job.id):
        logger.info(
            "import job %s %s: %s (%s bytes, from %s)",
            job.id,
            "resumed after a stopped worker" if job.resumed else "started",
            name,
            job.file_size_bytes,
            job.origin,
        )
        result: ImportResult | None = None
        message: str | None = None
        reason = "error"
        try:
            max_bytes = settings.import_max_zip_size_mb * 1024 * 1024
            if await asyncio.to_thread(detect, job.storage_path, name=name, max_bytes=max_bytes) == "scrobbles":
                result = await run_scrobble_import(engine, settings, job, progress_callback=progress_callback)
            else:
                result = await run_import(engine, settings, job, progress_callback=progress_callback, parser=parser)
        except ImportRejected as rejected:
            message, reason = rejected.message, rejected.reason
        except asyncio.CancelledError:
            logger.warning("import job %s interrupted; it restarts when its heartbeat goes stale", job.id)
            raise
        except Exception as error:
            logger.exception("import job %s failed unexpectedly", job.id)
            message, reason = f"unexpected error while importing {name}: {type(error).__name__}: {error}", "internal"
        if result is not None:
            stats = result.stats() | {"import_job_id": job.id, "resumed": job.resumed}
            await jobs.finish_success(engine, job, records_total=result.progress.records_read, stats=stats)
            p = result.progress
            logger.info(
                "import job %s finished: %s records read, %s inserted, %s duplicates, skipped %s, %s files, %.1fs",
                job.id,
                p.records_read,
                p.inserted,
                p.duplicates,
                result.skipped or "none",
                p.files_done,
                result.seconds,
            )
            if result.skip_details:
                # Records a person may want to look at (out of range): named with file and record number.
                logger.warning(
                    "import job %s skipped record(s) a person may want to look at (%s), e.g. %s",
                    job.id,
                    ", ".join(f"{reason} {count}" for reason, count in sorted(result.skipped.items())),
                    "; ".join(result.skip_details[:3]),
                )
            status, inserted = "success", p.inserted
        else:
            assert message is not None
            stats = {"import_job_id": job.id, "reason": reason, "resumed": job.resumed}
            removed = await jobs.finish_error(engine, job, message=message, stats=stats)
            logger.error(
                "import job %s failed (%s): %s; %s rows rolled back",
                job.id,
                reason,
                message,
                removed,
                extra={"ctx": {"reason": reason}},
            )
            status, inserted = "error", 0
        await _after(engine, settings, job, failed=status == "error", message=message)
    return JobOutcome(job.id, status, inserted, message, result)


async def _after(
    engine: AsyncEngine, settings: Settings, job: jobs.ClaimedJob, *, failed: bool, message: str | None
) -> None:
    """Watched files move to done/ or failed/; uploaded copies are deleted (they hold IP addresses)."""
    path = job.storage_path
    if job.origin == "watch" and settings.import_watch_dir is not None and path.exists():
        watch_dir = settings.import_watch_dir.expanduser().resolve()
        if path.parent.resolve() == (watch_dir / watch.PROCESSING).resolve():
            target = watch.move_aside(path, watch_dir, failed=failed, message=message)
            await jobs.update_storage_path(engine, job.id, target)
    elif job.origin == "upload":
        upload_dir = settings.effective_upload_dir
        if path.resolve().parent == upload_dir:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


async def process_pending_imports(engine: AsyncEngine, settings: Settings, *, worker_id: str) -> int:
    """Scan IMPORT_WATCH_DIR, preview the uploads waiting for a preview (`preview_jobs`), then run every claimable
    import job. Returns the records inserted."""
    if settings.import_watch_dir is not None:
        watch_dir: Path = settings.import_watch_dir.expanduser().resolve()
        try:
            await watch.scan_watch_dir(engine, watch_dir)
        except OSError as error:
            logger.error("cannot scan IMPORT_WATCH_DIR %s: %s", watch_dir, error)
    await preview_jobs.process_pending_previews(engine, settings)
    inserted = 0
    while True:
        job = await jobs.claim_job(engine, worker_id=worker_id)
        if job is None:
            return inserted
        outcome = await execute_job(engine, settings, job)
        inserted += outcome.inserted
