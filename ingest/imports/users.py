"""Who an import belongs to: a named user, or the local (ZIP-only) user created on first use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

LOCAL_USER_NAME: Final = "local"


@dataclass(frozen=True, slots=True)
class ImportUser:
    id: uuid.UUID
    name: str
    created: bool


async def find_users(connection: AsyncConnection, reference: str) -> list[ImportUser]:
    """Users whose id, Spotify user id or display name is `reference`."""
    try:
        as_uuid: str | None = str(uuid.UUID(reference))
    except ValueError:
        as_uuid = None
    rows = (
        await connection.execute(
            text(
                "SELECT id, coalesce(display_name, spotify_user_id, id::text) AS name FROM app.users "
                "WHERE id = CAST(:id AS uuid) OR spotify_user_id = :name OR display_name = :name "
                "ORDER BY created_at LIMIT 5"
            ),
            {"id": as_uuid, "name": reference},
        )
    ).all()
    return [ImportUser(row[0], row[1], created=False) for row in rows]


async def local_user(connection: AsyncConnection) -> ImportUser:
    """The local user (no Spotify account), created when missing."""
    row = (
        await connection.execute(
            text(
                "SELECT id FROM app.users WHERE display_name = :name AND spotify_user_id IS NULL "
                "ORDER BY created_at LIMIT 1"
            ),
            {"name": LOCAL_USER_NAME},
        )
    ).first()
    if row is not None:
        return ImportUser(row[0], LOCAL_USER_NAME, created=False)
    created = await connection.execute(
        text("INSERT INTO app.users (display_name) VALUES (:name) RETURNING id"), {"name": LOCAL_USER_NAME}
    )
    return ImportUser(created.scalar_one(), LOCAL_USER_NAME, created=True)
