"""`GET /admin/collector-status`: the installation's Spotify request budget, the name-resolution backlog and
the notifications sent to the owner (serve/collector_status.py). Admin only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from serve.api.deps import SessionDep, SettingsDep, require_admin
from serve.collector_status import CollectorStatus, collector_status

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.get(
    "/collector-status",
    response_model=CollectorStatus,
    summary="Spotify request budget, name-resolution backlog and notifications",
)
async def get_collector_status(
    session: SessionDep,
    settings: SettingsDep,
    notifications: int = Query(10, ge=0, le=200, description="how many recent notifications"),
) -> CollectorStatus:
    return await collector_status(await session.connection(), settings, notifications=notifications)
