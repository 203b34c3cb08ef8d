"""A collector within Spotify's quota (issue 17): request ledger and quota blocks, adaptive polling state,
notifications, transform requests, a lookup key that keeps name resolutions from being searched twice

- app.spotify_requests: one row per request to Spotify; the installation's budget is the rolling-24 h count.
- app.spotify_quota_blocks: Spotify stopped the app (QUOTA_EXCEEDED / long Retry-After) until a time.
- app.sync_checkpoints: the interval adaptive polling chose, the rate it came from, why, plays gained.
- app.notifications: events for the owner, each sent once (unique event_key).
- app.transform_requests: new data landed outside the collector; the collector's next transform takes it.
- raw.track_resolutions.lookup_key: normalised title|artist, so one name is looked up once.

Revision ID: 0006_collector_budget
Revises: 0005_import_record_keys
Create Date: 2026-12-07 11:01:50.256894
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_collector_budget"
down_revision: str | None = "0005_import_record_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spotify_quota_blocks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("endpoint", sa.Text(), nullable=True),
        sa.Column("retry_after_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spotify_quota_blocks")),
        schema="app",
    )
    op.create_index(
        op.f("ix_spotify_quota_blocks_blocked_until"),
        "spotify_quota_blocks",
        ["blocked_until"],
        unique=False,
        schema="app",
    )
    op.create_table(
        "transform_requests",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transform_requests")),
        schema="app",
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "delivered", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('needs_reauth', 'token_expiring', 'quota_exhausted', 'poll_failures', 'import_failed')",
            name=op.f("ck_notifications_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'unconfigured')", name=op.f("ck_notifications_status")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app.users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("event_key", name=op.f("uq_notifications_event_key")),
        schema="app",
    )
    op.create_index(op.f("ix_notifications_created_at"), "notifications", ["created_at"], unique=False, schema="app")
    op.create_index(
        "ix_notifications_pending",
        "notifications",
        ["next_attempt_at"],
        unique=False,
        schema="app",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "spotify_requests",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('token', 'polling', 'initial_sync', 'enrichment', 'tools')",
            name=op.f("ck_spotify_requests_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app.users.id"], name=op.f("fk_spotify_requests_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spotify_requests")),
        schema="app",
    )
    op.create_index(
        op.f("ix_spotify_requests_requested_at"), "spotify_requests", ["requested_at"], unique=False, schema="app"
    )
    op.add_column("sync_checkpoints", sa.Column("poll_interval_seconds", sa.Integer(), nullable=True), schema="app")
    op.add_column("sync_checkpoints", sa.Column("plays_per_hour", sa.Float(), nullable=True), schema="app")
    op.add_column("sync_checkpoints", sa.Column("poll_reason", sa.Text(), nullable=True), schema="app")
    op.add_column("sync_checkpoints", sa.Column("last_poll_new_plays", sa.Integer(), nullable=True), schema="app")
    op.add_column(
        "sync_checkpoints",
        sa.Column("window_full_polls", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema="app",
    )
    op.add_column("track_resolutions", sa.Column("lookup_key", sa.Text(), nullable=True), schema="raw")
    op.create_index(
        op.f("ix_track_resolutions_lookup_key"), "track_resolutions", ["lookup_key"], unique=False, schema="raw"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_track_resolutions_lookup_key"), table_name="track_resolutions", schema="raw")
    op.drop_column("track_resolutions", "lookup_key", schema="raw")
    op.drop_column("sync_checkpoints", "window_full_polls", schema="app")
    op.drop_column("sync_checkpoints", "last_poll_new_plays", schema="app")
    op.drop_column("sync_checkpoints", "poll_reason", schema="app")
    op.drop_column("sync_checkpoints", "plays_per_hour", schema="app")
    op.drop_column("sync_checkpoints", "poll_interval_seconds", schema="app")
    op.drop_index(op.f("ix_spotify_requests_requested_at"), table_name="spotify_requests", schema="app")
    op.drop_table("spotify_requests", schema="app")
    op.drop_index(
        "ix_notifications_pending",
        table_name="notifications",
        schema="app",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(op.f("ix_notifications_created_at"), table_name="notifications", schema="app")
    op.drop_table("notifications", schema="app")
    op.drop_table("transform_requests", schema="app")
    op.drop_index(op.f("ix_spotify_quota_blocks_blocked_until"), table_name="spotify_quota_blocks", schema="app")
    op.drop_table("spotify_quota_blocks", schema="app")
