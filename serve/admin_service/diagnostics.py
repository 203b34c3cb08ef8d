"""Diagnostics: database, Spotify, collector heartbeats, the last transform and the upload folder, each as a check."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from core.tables import job_runs, spotify_endpoint_status, worker_heartbeats
from serve.admin_service.common import db_now
from serve.admin_service.jobs import JobRun, job_run_of

# A collector whose heartbeat is older than this is reported as stale.
HEARTBEAT_STALE_AFTER = timedelta(minutes=5)


class Check(BaseModel):
    status: Literal["ok", "warning", "error", "unknown"]
    detail: str


class EndpointStatus(BaseModel):
    client_id: str
    endpoint: str
    available: bool
    status_code: int | None
    detail: str | None
    checked_at: datetime


class Heartbeat(BaseModel):
    worker_id: str
    service: str
    hostname: str
    pid: int
    started_at: datetime
    last_seen_at: datetime
    state: str
    stale: bool


class Diagnostics(BaseModel):
    checked_at: datetime
    database: Check
    database_version: str | None
    spotify: Check
    spotify_configured: bool
    spotify_endpoints: list[EndpointStatus]
    collector: Check
    heartbeats: list[Heartbeat]
    transform: Check
    last_transform: JobRun | None
    upload_dir: Check
    upload_dir_path: str
    upload_dir_bytes: int | None
    disk_free_bytes: int | None
    disk_total_bytes: int | None


def _directory_bytes(path: Path) -> int:
    total = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file() and not entry.is_symlink():
                total += entry.stat().st_size
        except OSError:
            continue
    return total


def _disk_usage(path: Path) -> tuple[int | None, int | None, int | None]:
    if not path.exists():
        return None, None, None
    usage = shutil.disk_usage(path)
    return _directory_bytes(path), usage.free, usage.total


async def probe_spotify(settings: Settings, *, timeout_seconds: float = 2.0) -> Check:
    """Is Spotify's Web API reachable from here? Any HTTP answer (401 without a token) counts."""
    url = str(settings.spotify_api_base_url).rstrip("/") + "/markets"
    try:
        async with httpx.AsyncClient(timeout=timeout_seconds) as client:
            response = await client.get(url)
    except httpx.HTTPError as error:
        return Check(status="error", detail=f"unreachable: {type(error).__name__}")
    return Check(status="ok", detail=f"reachable (HTTP {response.status_code})")


async def diagnostics(session: AsyncSession, settings: Settings, *, probe: bool) -> Diagnostics:
    now = await db_now(session)
    version: str = (await session.execute(text("SHOW server_version"))).scalar_one()
    database = Check(status="ok", detail=f"connected, PostgreSQL {version}")

    endpoint_rows = await session.execute(
        select(spotify_endpoint_status).order_by(
            spotify_endpoint_status.c.client_id, spotify_endpoint_status.c.endpoint
        )
    )
    endpoints = [
        EndpointStatus(
            client_id=row.client_id,
            endpoint=row.endpoint,
            available=row.available,
            status_code=row.status_code,
            detail=row.detail,
            checked_at=row.checked_at,
        )
        for row in endpoint_rows
    ]
    restricted = [item.endpoint for item in endpoints if not item.available]
    if probe:
        spotify = await probe_spotify(settings)
    elif not settings.spotify_configured:
        spotify = Check(status="unknown", detail="no Spotify app configured (ZIP import works without one)")
    else:
        spotify = Check(status="unknown", detail="not probed (pass probe=true)")
    if restricted and spotify.status == "ok":
        spotify = Check(status="warning", detail=f"{spotify.detail}; unavailable to this app: {', '.join(restricted)}")
    elif restricted:
        spotify = Check(status=spotify.status, detail=f"{spotify.detail}; unavailable: {', '.join(restricted)}")

    beat_rows = await session.execute(select(worker_heartbeats).order_by(worker_heartbeats.c.last_seen_at.desc()))
    heartbeats = [
        Heartbeat(
            worker_id=row.worker_id,
            service=row.service,
            hostname=row.hostname,
            pid=row.pid,
            started_at=row.started_at,
            last_seen_at=row.last_seen_at,
            state=row.state,
            stale=now - row.last_seen_at > HEARTBEAT_STALE_AFTER,
        )
        for row in beat_rows
    ]
    collectors = [beat for beat in heartbeats if beat.service == "collector"]
    live = [beat for beat in collectors if not beat.stale and beat.state != "stopped"]
    if live:
        collector = Check(
            status="ok", detail=f"{len(live)} collector(s) alive, last seen {live[0].last_seen_at:%Y-%m-%d %H:%M:%S}Z"
        )
    elif collectors:
        collector = Check(
            status="error", detail=f"no live collector; last seen {collectors[0].last_seen_at:%Y-%m-%d %H:%M:%S}Z"
        )
    else:
        collector = Check(status="warning", detail="no collector has ever reported")

    last = (
        await session.execute(
            select(job_runs)
            .where(job_runs.c.job_type == "transform")
            .order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc())
            .limit(1)
        )
    ).first()
    last_success = (
        await session.execute(
            select(func.max(job_runs.c.finished_at)).where(
                job_runs.c.job_type == "transform", job_runs.c.status.in_(("success", "partial"))
            )
        )
    ).scalar_one()
    last_transform = job_run_of(last) if last is not None else None
    if last_transform is None:
        transform = Check(status="warning", detail="no transform has run yet")
    elif last_transform.status == "error":
        transform = Check(status="error", detail=f"last transform failed: {last_transform.error_message or 'error'}")
    elif last_transform.status == "partial":
        transform = Check(status="warning", detail=f"last transform: {last_transform.error_message or 'partial'}")
    elif last_transform.status == "running":
        transform = Check(status="ok", detail="a transform is running now")
    elif last_transform.status in ("interrupted", "abandoned"):
        transform = Check(
            status="warning",
            detail=f"last transform {last_transform.status} (stopped before it finished); the next one redoes its work",
        )
    else:
        transform = Check(
            status="ok", detail=f"last success {last_success:%Y-%m-%d %H:%M:%S}Z" if last_success else "ran"
        )

    upload_path = settings.effective_upload_dir
    used, free, total = await asyncio.to_thread(_disk_usage, upload_path)
    if used is None:
        upload = Check(status="warning", detail="upload folder does not exist yet (created on the first upload)")
    elif free is not None and total and free / total < 0.05:
        upload = Check(status="error", detail="less than 5% disk space left")
    else:
        upload = Check(status="ok", detail="writable folder present")

    return Diagnostics(
        checked_at=now if now.tzinfo else now.replace(tzinfo=UTC),
        database=database,
        database_version=str(version),
        spotify=spotify,
        spotify_configured=settings.spotify_configured,
        spotify_endpoints=endpoints,
        collector=collector,
        heartbeats=heartbeats,
        transform=transform,
        last_transform=last_transform,
        upload_dir=upload,
        upload_dir_path=str(upload_path),
        upload_dir_bytes=used,
        disk_free_bytes=free,
        disk_total_bytes=total,
    )
