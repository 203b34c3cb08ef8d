"""app: what the installation asks of Spotify: endpoints found removed, the shared request budget, and quota
blocks (core.spotify.budget, core.spotify.policy).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID

from core.tables.base import (
    APP_SCHEMA,
    metadata,
    one_of,
)

# Why a Spotify request was made, highest priority first (core.spotify.budget).
REQUEST_PURPOSES = ("token", "polling", "initial_sync", "enrichment", "tools")


spotify_endpoint_status = Table(
    "spotify_endpoint_status",
    metadata,
    # Per Spotify app: an endpoint that answered as removed (403/404) is not asked again.
    Column("client_id", Text, nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("available", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("detail", Text, nullable=True),
    Column("checked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("client_id", "endpoint"),
    schema=APP_SCHEMA,
)

spotify_requests = Table(
    "spotify_requests",
    metadata,
    # One row per request sent to Spotify (Web API and accounts service) by any process: the installation's
    # request budget is the count of rows in the last 24 h (core.spotify.budget). Old rows are purged.
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("endpoint", Text, nullable=False),
    # Spent stays spent when the user is deleted: the link goes, the row stays.
    Column("user_id", UUID(as_uuid=True), ForeignKey(f"{APP_SCHEMA}.users.id", ondelete="SET NULL"), nullable=True),
    CheckConstraint(one_of("purpose", REQUEST_PURPOSES), name="purpose"),
    Index(None, "requested_at"),
    schema=APP_SCHEMA,
)

spotify_quota_blocks = Table(
    "spotify_quota_blocks",
    metadata,
    # Spotify stopped the whole app (429 QUOTA_EXCEEDED, or a Retry-After too long to wait): no process calls
    # Spotify before `blocked_until`. One row per block, however many processes met it.
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("blocked_until", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=True),
    Column("endpoint", Text, nullable=True),
    Column("retry_after_seconds", Float, nullable=False),
    Index(None, "blocked_until"),
    schema=APP_SCHEMA,
)
