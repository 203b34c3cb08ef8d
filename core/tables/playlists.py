"""app: playlists written by the tools (serve/tools/playlists) and the name searches they made.

One row per write request, keyed by the caller's idempotency key (or one derived from the request), so a retried
call returns the first playlist and a write cut short by Spotify's rate limit resumes where it stopped (`added`
counts the items Spotify confirmed).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from core.tables.base import (
    APP_SCHEMA,
    created_at,
    metadata,
    one_of,
    updated_at,
    user_fk,
)

PLAYLIST_WRITE_KINDS = ("create", "add")
PLAYLIST_WRITE_STATUSES = ("pending", "adding", "complete")
TRACK_LOOKUP_STATUSES = ("resolved", "ambiguous", "not_found")

playlist_writes = Table(
    "playlist_writes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    user_fk(),
    Column("idempotency_key", Text, nullable=False),
    # sha256 of the request (tool and arguments): a key sent again with other arguments is refused.
    Column("request_hash", Text, nullable=False),
    Column("kind", Text, nullable=False),
    # Spotify's playlist id, once created (or the playlist added to).
    Column("playlist_id", Text, nullable=True),
    Column("playlist_name", Text, nullable=False),
    Column("public", Boolean, nullable=True),
    # What to add, in order: [{uri, track_id, name, artist}]; and what could not be resolved to a Spotify id.
    Column("tracks", JSONB, nullable=False),
    Column("unresolved", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("added", Integer, nullable=False, server_default=text("0")),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    created_at(),
    updated_at(),
    UniqueConstraint("user_id", "idempotency_key"),
    CheckConstraint(one_of("kind", PLAYLIST_WRITE_KINDS), name="kind"),
    CheckConstraint(one_of("status", PLAYLIST_WRITE_STATUSES), name="status"),
    CheckConstraint("added >= 0", name="added"),
    schema=APP_SCHEMA,
)

track_name_lookups = Table(
    "track_name_lookups",
    metadata,
    # Searches the playlist tools made for name-only tracks (core.spotify.matching.lookup_key): never twice.
    Column("lookup_key", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("spotify_track_id", Text, nullable=True),
    Column("confidence", Float, nullable=True),
    Column("query", Text, nullable=True),
    created_at(),
    CheckConstraint(one_of("status", TRACK_LOOKUP_STATUSES), name="status"),
    schema=APP_SCHEMA,
)
