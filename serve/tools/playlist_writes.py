"""What the playlist tools remember between calls, in PostgreSQL: each write request by its idempotency key (so a
retry returns the first playlist, and a write that Spotify's rate limit cut short resumes where it stopped), and
the searches made for name-only tracks (so no name is searched twice).

Each change is its own short transaction on the engine, not the tool call's session: progress must survive
the call failing halfway. One call at a time per key: `hold` takes a transaction-level advisory lock for the
duration of a write, so two identical requests racing each other create one playlist.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.spotify.matching import Verdict

type Kind = Literal["create", "add"]


@dataclass(frozen=True, slots=True)
class Write:
    id: int
    idempotency_key: str
    request_hash: str
    kind: str
    playlist_id: str | None
    playlist_name: str
    public: bool | None
    tracks: list[dict[str, Any]]
    unresolved: list[str]
    added: int
    status: str

    @property
    def remaining(self) -> int:
        return len(self.tracks) - self.added


def request_hash(kind: Kind, arguments: dict[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "arguments": arguments}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def derived_key(kind: Kind, fingerprint: str, now: datetime) -> str:
    """The key of a call that sent none: the same request on the same (UTC) day is the same write."""
    return f"auto-{kind}-{now.date().isoformat()}-{fingerprint[:24]}"


def _write(row: Any) -> Write:
    return Write(
        row.id, row.idempotency_key, row.request_hash, row.kind, row.playlist_id, row.playlist_name, row.public,
        list(row.tracks), list(row.unresolved), row.added, row.status,
    )  # fmt: skip


@asynccontextmanager
async def hold(engine: AsyncEngine, user_id: UUID, key: str) -> AsyncIterator[None]:
    """Serialise calls with the same user and key (released when the block ends)."""
    async with engine.begin() as connection:
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"playlist|{user_id}|{key}"}
        )
        yield


async def find(engine: AsyncEngine, user_id: UUID, key: str) -> Write | None:
    writes = tables.playlist_writes
    async with engine.connect() as connection:
        row = (
            await connection.execute(select(writes).where(writes.c.user_id == user_id, writes.c.idempotency_key == key))
        ).first()
    return None if row is None else _write(row)


async def start(
    engine: AsyncEngine,
    *,
    user_id: UUID,
    key: str,
    fingerprint: str,
    kind: Kind,
    playlist_id: str | None,
    name: str,
    public: bool | None,
    tracks: list[dict[str, Any]],
    unresolved: list[str],
) -> Write:
    writes = tables.playlist_writes
    async with engine.begin() as connection:
        row = (
            await connection.execute(
                insert(writes)
                .values(
                    user_id=user_id,
                    idempotency_key=key,
                    request_hash=fingerprint,
                    kind=kind,
                    playlist_id=playlist_id,
                    playlist_name=name,
                    public=public,
                    tracks=tracks,
                    unresolved=unresolved,
                )
                .returning(writes)
            )
        ).one()
    return _write(row)


async def set_playlist(engine: AsyncEngine, write_id: int, playlist_id: str) -> None:
    writes = tables.playlist_writes
    async with engine.begin() as connection:
        await connection.execute(
            update(writes)
            .where(writes.c.id == write_id)
            .values(playlist_id=playlist_id, status="adding", updated_at=func.now())
        )


async def set_added(engine: AsyncEngine, write_id: int, added: int, *, complete: bool) -> None:
    writes = tables.playlist_writes
    async with engine.begin() as connection:
        await connection.execute(
            update(writes)
            .where(writes.c.id == write_id)
            .values(added=added, status="complete" if complete else "adding", updated_at=func.now())
        )


# --- Name lookups -----------------------------------------------------------------------------------
_SETTLED = text(
    """
    SELECT 'local' AS kind, local_track_id AS key, status, spotify_track_id
    FROM raw.track_resolutions WHERE local_track_id = ANY(CAST(:ids AS text[]))
    UNION ALL
    SELECT 'name', lookup_key, status, spotify_track_id
    FROM raw.track_resolutions WHERE lookup_key = ANY(CAST(:keys AS text[]))
    UNION ALL
    SELECT 'name', lookup_key, status, spotify_track_id
    FROM app.track_name_lookups WHERE lookup_key = ANY(CAST(:keys AS text[]))
    """
)


@dataclass(frozen=True, slots=True)
class Settled:
    status: str
    spotify_track_id: str | None


async def settled(
    engine: AsyncEngine, local_ids: list[str], keys: list[str]
) -> tuple[dict[str, Settled], dict[str, Settled]]:
    """What is already known about these `local:` ids (the background resolver's answers) and name keys (its
    answers and earlier searches of these tools). A `resolved` answer wins over the others."""
    by_id: dict[str, Settled] = {}
    by_key: dict[str, Settled] = {}
    async with engine.connect() as connection:
        rows = (await connection.execute(_SETTLED, {"ids": local_ids, "keys": keys})).all()
    for row in rows:
        target = by_id if row.kind == "local" else by_key
        if row.key not in target or row.status == "resolved":
            target[row.key] = Settled(row.status, row.spotify_track_id)
    return by_id, by_key


async def remember_lookup(engine: AsyncEngine, key: str, verdict: Verdict, query: str) -> None:
    lookups = tables.track_name_lookups
    async with engine.begin() as connection:
        await connection.execute(
            insert(lookups)
            .values(
                lookup_key=key,
                status=verdict.status,
                spotify_track_id=verdict.spotify_track_id if verdict.status != "not_found" else None,
                confidence=verdict.confidence,
                query=query[:500],
            )
            .on_conflict_do_nothing()
        )
