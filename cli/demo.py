"""The demo user: a realistic two-year history loaded through the real import path, then the transform.

Idempotent: a second run finds the demo user with its import done and changes nothing. The generated export
is written to UPLOAD_DIR/demo/ for the import and removed once the import has ended (like an uploaded one).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, select

from cli.demo_data import write_demo_export
from core import tables
from core.db import create_engine
from core.settings import Settings
from ingest.imports import jobs
from ingest.imports.worker import execute_job
from transform.runner import run_transform

DEMO_NAME = "Demo listener"
DEMO_TIMEZONE = "Europe/Berlin"


@dataclass(frozen=True, slots=True)
class DemoResult:
    user_id: uuid.UUID
    records_in_export: int
    inserted: int
    import_status: str
    transform_status: str
    already_present: bool


async def _demo_user(url: str) -> tuple[uuid.UUID, bool]:
    """The demo user's id, and whether it already has imported listens."""
    engine = create_engine(url, application_name="spotify-mcp demo")
    try:
        async with engine.begin() as connection:
            found: uuid.UUID | None = (
                await connection.execute(
                    select(tables.users.c.id).where(
                        tables.users.c.display_name == DEMO_NAME, tables.users.c.spotify_user_id.is_(None)
                    )
                )
            ).scalar_one_or_none()
            if found is None:
                created: uuid.UUID = (
                    await connection.execute(
                        insert(tables.users)
                        .values(display_name=DEMO_NAME, timezone=DEMO_TIMEZONE)
                        .returning(tables.users.c.id)
                    )
                ).scalar_one()
                return created, False
            count = (
                await connection.execute(
                    select(func.count())
                    .select_from(tables.export_records)
                    .where(tables.export_records.c.user_id == found)
                )
            ).scalar_one()
            return found, count > 0
    finally:
        await engine.dispose()


async def import_demo(url: str, settings: Settings, user_id: uuid.UUID) -> tuple[int, int, str]:
    """Generate the demo export, import it for `user_id`: (records in the export, inserted, job status)."""
    path: Path = settings.effective_upload_dir / "demo" / "my_spotify_data.zip"
    try:
        records = await asyncio.to_thread(_write_export, path)
        return records, *await _import(url, settings, user_id, path)
    finally:
        await asyncio.to_thread(_remove_export, path)


def _remove_export(path: Path) -> None:
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (something else was put there) or already gone
        path.parent.rmdir()


async def _import(url: str, settings: Settings, user_id: uuid.UUID, path: Path) -> tuple[int, str]:
    records_size = await asyncio.to_thread(lambda: path.stat().st_size)
    engine = create_engine(url, application_name="spotify-mcp demo")
    try:
        async with engine.begin() as connection:
            job_id = await jobs.create_job(
                connection,
                user_id=user_id,
                storage_path=path,
                original_filename=path.name,
                origin="cli",
                file_size_bytes=records_size,
                file_sha256=None,
            )
        claimed = await jobs.claim_job(engine, worker_id="demo", only_id=job_id)
        if claimed is None:
            return 0, "error"
        outcome = await execute_job(engine, settings, claimed)
        return outcome.inserted, outcome.status
    finally:
        await engine.dispose()


def _write_export(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_demo_export(path)


def seed_demo(settings: Settings, url: str) -> DemoResult:
    user_id, present = asyncio.run(_demo_user(url))
    if present:
        return DemoResult(user_id, 0, 0, "already imported", "not needed", already_present=True)
    records, inserted, status = asyncio.run(import_demo(url, settings, user_id))
    transform = run_transform(url, wait_seconds=300)
    return DemoResult(user_id, records, inserted, status, transform.status, already_present=False)


def describe(result: DemoResult) -> str:
    if result.already_present:
        return f"demo user {result.user_id} already has its history"
    return (
        f"demo user {result.user_id}: {result.records_in_export} listens in the export, {result.inserted} imported "
        f"({result.import_status}); transform {result.transform_status}"
    )
