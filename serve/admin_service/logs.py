"""Structured logs: search and tail.

Free-text search escapes LIKE's wildcards (`%`, `_`, `\\`) so that `q` is always matched literally.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Text, and_, cast, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.tables import LOG_LEVELS, logs
from serve.admin_service.common import escape_like


class LogEntry(BaseModel):
    id: int
    service: str
    level: str
    timestamp: datetime
    message: str
    context: dict[str, Any] | None


class LogPage(BaseModel):
    items: list[LogEntry]
    limit: int
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page; null at the end")
    newest_id: int | None = Field(description="pass as after_id to tail: only newer entries are returned")


async def search_logs(
    session: AsyncSession,
    *,
    limit: int,
    service: str | None = None,
    level: str | None = None,
    q: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
    user_id: uuid.UUID | None = None,
) -> LogPage:
    """Newest first. `level` is a minimum severity (`warning` returns warning and error).

    `q` matches the message or the JSON context, case-insensitively and literally (bound parameter,
    LIKE wildcards escaped). `before_id` pages back; `after_id` tails (only newer rows).
    """
    conditions: list[ColumnElement[bool]] = []
    if service:
        conditions.append(logs.c.service == service)
    if level:
        conditions.append(logs.c.level.in_(LOG_LEVELS[LOG_LEVELS.index(level) :]))
    if q:
        pattern = f"%{escape_like(q)}%"
        conditions.append(
            or_(
                logs.c.message.ilike(pattern, escape="\\"),
                cast(logs.c.context, Text).ilike(pattern, escape="\\"),
            )
        )
    if since is not None:
        conditions.append(logs.c.timestamp >= since)
    if until is not None:
        conditions.append(logs.c.timestamp < until)
    if before_id is not None:
        conditions.append(logs.c.id < before_id)
    if after_id is not None:
        conditions.append(logs.c.id > after_id)
    if user_id is not None:
        conditions.append(logs.c.context.contains({"user_id": str(user_id)}))
    where = and_(*conditions) if conditions else literal(True)
    rows = list(await session.execute(select(logs).where(where).order_by(logs.c.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        LogEntry(
            id=row.id,
            service=row.service,
            level=row.level,
            timestamp=row.timestamp,
            message=row.message,
            context=row.context,
        )
        for row in rows
    ]
    newest = items[0].id if items else after_id
    return LogPage(
        items=items, limit=limit, next_before_id=items[-1].id if (items and more) else None, newest_id=newest
    )
