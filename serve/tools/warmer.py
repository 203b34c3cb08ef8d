"""Pre-computes the most asked answers (the last 90 days and all time) into the result cache whenever the
warehouse changes (a new successful transform) or the day changes, so the first question after a transform is
answered from the cache too. Runs in the API process; failures are logged and never reach a request."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text

from core.db import SessionFactory, unit_of_work
from core.settings import Settings
from serve.tools.errors import ToolError
from serve.tools.registry import Principal, Registry, ResultCache, ToolContext

logger = logging.getLogger(__name__)

STANDARD_CALLS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("history.taste_summary", {"days": 90}),
    ("history.top_artists", {"days": 90}),
    ("history.top_tracks", {"days": 90}),
    ("history.taste_summary", {"period": "all_time"}),
)


async def _version(sessions: SessionFactory) -> tuple[object, ...] | None:
    async with unit_of_work(sessions) as session:
        row = (
            await session.execute(
                text(
                    """
                    SELECT to_regclass('marts.agg_daily_listening') IS NOT NULL,
                           (SELECT max(finished_at) FROM app.job_runs
                            WHERE job_type = 'transform' AND status IN ('success', 'partial'))
                    """
                )
            )
        ).one()
    if not row[0]:
        return None
    return (row[1], datetime.now(UTC).date(), datetime.now(UTC).hour)


async def _users(sessions: SessionFactory) -> list[UUID]:
    async with unit_of_work(sessions) as session:
        result = await session.execute(
            text(
                """
                SELECT u.id FROM app.users u
                WHERE EXISTS (SELECT 1 FROM marts.agg_daily_listening a WHERE a.user_id = u.id)
                """
            )
        )
        return list(result.scalars())


async def warm_once(registry: Registry, sessions: SessionFactory, settings: Settings, cache: ResultCache) -> int:
    """Answer the standard calls for every user with data; returns how many answers were cached."""
    warmed = 0
    for user_id in await _users(sessions):
        for tool, args in STANDARD_CALLS:
            try:
                async with unit_of_work(sessions) as session:
                    context = ToolContext(session, Principal.admin(), settings, cache=cache)
                    await registry.call(tool, {**args, "user_id": str(user_id)}, context)
                warmed += 1
            except ToolError:
                continue
    return warmed


async def run_warmer(
    registry: Registry, sessions: SessionFactory, settings: Settings, cache: ResultCache, interval: float = 30.0
) -> None:
    seen: tuple[object, ...] | None = None
    while True:
        try:
            version = await _version(sessions)
            if version is not None and version != seen:
                warmed = await warm_once(registry, sessions, settings, cache)
                logger.info("tool cache warmed", extra={"answers": warmed})
                seen = version
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("tool cache warming failed", exc_info=True)
        await asyncio.sleep(interval)
