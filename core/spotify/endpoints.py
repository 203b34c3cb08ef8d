"""Memory of endpoints Spotify removed for an app (answered 403/404 as gone): asked once, then never again.

Kept per app (client id) in `app.spotify_endpoint_status`, so every process of the same app agrees.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables


class EndpointMemory(Protocol):
    def is_removed(self, endpoint: str) -> bool: ...

    async def mark_removed(self, endpoint: str, status_code: int, detail: str) -> None: ...


class InMemoryEndpointMemory:
    def __init__(self, removed: set[str] | None = None) -> None:
        self.removed: set[str] = set(removed or ())

    def is_removed(self, endpoint: str) -> bool:
        return endpoint in self.removed

    async def mark_removed(self, endpoint: str, status_code: int, detail: str) -> None:
        del status_code, detail
        self.removed.add(endpoint)


class DatabaseEndpointMemory:
    """Loaded once per process (`load`), written through on every new finding."""

    def __init__(self, engine: AsyncEngine, client_id: str, removed: set[str] | None = None) -> None:
        self._engine = engine
        self.client_id = client_id
        self.removed: set[str] = set(removed or ())

    @classmethod
    async def load(cls, engine: AsyncEngine, client_id: str) -> DatabaseEndpointMemory:
        memory = cls(engine, client_id)
        await memory.refresh()
        return memory

    async def refresh(self) -> None:
        status = tables.spotify_endpoint_status
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(status.c.endpoint).where(status.c.client_id == self.client_id, status.c.available.is_(False))
            )
            self.removed = {row.endpoint for row in rows}

    def is_removed(self, endpoint: str) -> bool:
        return endpoint in self.removed

    async def mark_removed(self, endpoint: str, status_code: int, detail: str) -> None:
        self.removed.add(endpoint)
        status = tables.spotify_endpoint_status
        statement = insert(status).values(
            client_id=self.client_id, endpoint=endpoint, available=False, status_code=status_code, detail=detail[:500]
        )
        statement = statement.on_conflict_do_update(
            index_elements=[status.c.client_id, status.c.endpoint],
            set_={
                "available": False,
                "status_code": status_code,
                "detail": detail[:500],
                "checked_at": statement.excluded.checked_at,
            },
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)
