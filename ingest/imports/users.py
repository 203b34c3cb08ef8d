"""Who an import belongs to: a named user, or the local (ZIP-only) user created on first use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core import user_lookup

LOCAL_USER_NAME: Final = "local"


@dataclass(frozen=True, slots=True)
class ImportUser:
    id: uuid.UUID
    name: str
    created: bool


async def find_users(connection: AsyncConnection, reference: str) -> list[ImportUser]:
    """Users the reference could mean (id, Spotify user id, e-mail or display name): core.user_lookup's rule."""
    return [
        ImportUser(user.id, user.label, created=False) for user in await user_lookup.find_users(connection, reference)
    ]


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
