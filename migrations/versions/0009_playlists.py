"""Playlists written by the tools: app.playlist_writes (one row per write request, by idempotency key, with the
progress of its additions) and app.track_name_lookups (searches for name-only tracks, never made twice)

Revision ID: 0009_playlists
Revises: 0008_scrobbles
Create Date: 2026-12-07 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_playlists"
down_revision: str | None = "0008_scrobbles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "playlist_writes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("playlist_id", sa.Text(), nullable=True),
        sa.Column("playlist_name", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=True),
        sa.Column("tracks", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "unresolved", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("added", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('create', 'add')", name=op.f("ck_playlist_writes_kind")),
        sa.CheckConstraint("status IN ('pending', 'adding', 'complete')", name=op.f("ck_playlist_writes_status")),
        sa.CheckConstraint("added >= 0", name=op.f("ck_playlist_writes_added")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app.users.id"], name=op.f("fk_playlist_writes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlist_writes")),
        sa.UniqueConstraint("user_id", "idempotency_key", name=op.f("uq_playlist_writes_user_id_idempotency_key")),
        schema="app",
    )
    op.create_table(
        "track_name_lookups",
        sa.Column("lookup_key", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("spotify_track_id", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('resolved', 'ambiguous', 'not_found')", name=op.f("ck_track_name_lookups_status")
        ),
        sa.PrimaryKeyConstraint("lookup_key", name=op.f("pk_track_name_lookups")),
        schema="app",
    )


def downgrade() -> None:
    op.drop_table("track_name_lookups", schema="app")
    op.drop_table("playlist_writes", schema="app")
