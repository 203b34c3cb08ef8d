"""What every admin-service domain shares: its error, the page of a list, input checks and the database clock."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.tables import users


class ServiceError(Exception):
    """Raised by the service; the router maps `kind` to an HTTP error."""

    def __init__(self, kind: Literal["not_found", "conflict", "invalid"], message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Page[T](BaseModel):
    items: list[T]
    total: int
    limit: int
    offset: int


def validate_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError, ValueError:
        raise ServiceError("invalid", f"`{name}` is not an IANA time zone (e.g. Europe/Berlin, UTC)") from None
    return name


def escape_like(value: str) -> str:
    """Make `value` match literally inside LIKE/ILIKE with ESCAPE '\\'."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def db_now(session: AsyncSession) -> datetime:
    value: datetime = (await session.execute(select(func.now()))).scalar_one()
    return value


async def require_user(session: AsyncSession, user_id: uuid.UUID) -> Any:
    row = (await session.execute(select(users).where(users.c.id == user_id))).first()
    if row is None:
        raise ServiceError("not_found", f"no user with id {user_id}")
    return row
