"""app and raw schemas

Revision ID: 0001
Revises:
Create Date: 2026-11-24 01:57:31.395694
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS app")
    op.execute("CREATE SCHEMA IF NOT EXISTS raw")
    op.create_table(
        "logs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint("level IN ('debug', 'info', 'warning', 'error')", name=op.f("ck_logs_level")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logs")),
        schema="app",
    )
    op.create_index("ix_logs_context", "logs", ["context"], unique=False, schema="app", postgresql_using="gin")
    op.create_index(
        "ix_logs_service_timestamp",
        "logs",
        ["service", sa.literal_column("timestamp DESC")],
        unique=False,
        schema="app",
    )
    op.create_index("ix_logs_timestamp", "logs", ["timestamp"], unique=False, schema="app")
    op.create_table(
        "oauth_states",
        sa.Column("state_hash", sa.Text(), nullable=False),
        sa.Column("browser_binding_hash", sa.Text(), nullable=False),
        sa.Column("code_verifier_enc", sa.Text(), nullable=False),
        sa.Column("redirect_after", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_oauth_states")),
        schema="app",
    )
    op.create_table(
        "spotify_endpoint_status",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "endpoint", name=op.f("pk_spotify_endpoint_status")),
        schema="app",
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("spotify_user_id", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'active'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('active', 'paused', 'needs_reauth', 'disabled')", name=op.f("ck_users_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("spotify_user_id", name=op.f("uq_users_spotify_user_id")),
        schema="app",
    )
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("state", sa.Text(), server_default=sa.text("'running'"), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_heartbeats")),
        schema="app",
    )
    op.create_table(
        "artists",
        sa.Column("artist_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("genres", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("popularity", sa.Integer(), nullable=True),
        sa.Column("uri", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), server_default=sa.text("'spotify_api'"), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("details_fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("artist_id", name=op.f("pk_artists")),
        schema="raw",
    )
    op.create_index(op.f("ix_artists_ingested_at"), "artists", ["ingested_at"], unique=False, schema="raw")
    op.create_table(
        "audio_features",
        sa.Column("track_id", sa.Text(), nullable=False),
        sa.Column("danceability", sa.Float(), nullable=True),
        sa.Column("energy", sa.Float(), nullable=True),
        sa.Column("valence", sa.Float(), nullable=True),
        sa.Column("tempo", sa.Float(), nullable=True),
        sa.Column("instrumentalness", sa.Float(), nullable=True),
        sa.Column("acousticness", sa.Float(), nullable=True),
        sa.Column("liveness", sa.Float(), nullable=True),
        sa.Column("speechiness", sa.Float(), nullable=True),
        sa.Column("loudness", sa.Float(), nullable=True),
        sa.Column("mode", sa.Integer(), nullable=True),
        sa.Column("key", sa.Integer(), nullable=True),
        sa.Column("time_signature", sa.Integer(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_audio_features")),
        schema="raw",
    )
    op.create_index(
        op.f("ix_audio_features_ingested_at"), "audio_features", ["ingested_at"], unique=False, schema="raw"
    )
    op.create_table(
        "track_artists",
        sa.Column("track_id", sa.Text(), nullable=False),
        sa.Column("artist_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("track_id", "artist_id", name=op.f("pk_track_artists")),
        schema="raw",
    )
    op.create_index(op.f("ix_track_artists_ingested_at"), "track_artists", ["ingested_at"], unique=False, schema="raw")
    op.create_table(
        "track_resolutions",
        sa.Column("local_track_id", sa.Text(), nullable=False),
        sa.Column("spotify_track_id", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("method", sa.Text(), server_default=sa.text("'search'"), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('resolved', 'not_found', 'ambiguous')", name=op.f("ck_track_resolutions_status")
        ),
        sa.CheckConstraint(
            "confidence IS NULL OR (confidence >= 0 AND confidence <= 1)",
            name=op.f("ck_track_resolutions_confidence_range"),
        ),
        sa.PrimaryKeyConstraint("local_track_id", name=op.f("pk_track_resolutions")),
        schema="raw",
    )
    op.create_index(
        op.f("ix_track_resolutions_ingested_at"), "track_resolutions", ["ingested_at"], unique=False, schema="raw"
    )
    op.create_table(
        "tracks",
        sa.Column("track_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("album_id", sa.Text(), nullable=True),
        sa.Column("album_name", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("explicit", sa.Boolean(), nullable=True),
        sa.Column("popularity", sa.Integer(), nullable=True),
        sa.Column("preview_url", sa.Text(), nullable=True),
        sa.Column("uri", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), server_default=sa.text("'spotify_api'"), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_tracks")),
        schema="raw",
    )
    op.create_index(op.f("ix_tracks_ingested_at"), "tracks", ["ingested_at"], unique=False, schema="raw")
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("token_prefix", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), server_default=sa.text("'tools:read'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app.users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
        schema="app",
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False, schema="app")
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("job_type", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'running'"), nullable=False),
        sa.Column(
            "stats", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("worker_id", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "job_type IN ('import_zip', 'initial_sync', 'poll', 'enrich', 'transform', 'purge_logs')",
            name=op.f("ck_job_runs_job_type"),
        ),
        sa.CheckConstraint("status IN ('running', 'success', 'error', 'partial')", name=op.f("ck_job_runs_status")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app.users.id"], name=op.f("fk_job_runs_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        schema="app",
    )
    op.create_index(
        "ix_job_runs_job_type_started_at",
        "job_runs",
        ["job_type", sa.literal_column("started_at DESC")],
        unique=False,
        schema="app",
    )
    op.create_index(
        "ix_job_runs_user_id_started_at",
        "job_runs",
        ["user_id", sa.literal_column("started_at DESC")],
        unique=False,
        schema="app",
    )
    op.create_table(
        "spotify_tokens",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("refresh_token_enc", sa.Text(), nullable=False),
        sa.Column("access_token_enc", sa.Text(), nullable=True),
        sa.Column("access_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("token_type", sa.Text(), server_default=sa.text("'Bearer'"), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("refresh_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_id", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app.users.id"], name=op.f("fk_spotify_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_spotify_tokens")),
        schema="app",
    )
    op.create_table(
        "sync_checkpoints",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("initial_sync_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("initial_sync_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("initial_sync_earliest_played_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("initial_sync_stop_reason", sa.Text(), nullable=True),
        sa.Column("last_poll_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_poll_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_poll_latest_played_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_errors", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'idle'"), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('idle', 'importing', 'initial_sync', 'polling', 'error', 'paused', 'needs_reauth', 'rate_limited')",
            name=op.f("ck_sync_checkpoints_status"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app.users.id"], name=op.f("fk_sync_checkpoints_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_sync_checkpoints")),
        schema="app",
    )
    op.create_index(
        op.f("ix_sync_checkpoints_next_poll_at"), "sync_checkpoints", ["next_poll_at"], unique=False, schema="app"
    )
    op.create_table(
        "api_plays",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("played_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("track_id", sa.Text(), nullable=False),
        sa.Column("ms_played", sa.Integer(), nullable=True),
        sa.Column("context_type", sa.Text(), nullable=True),
        sa.Column("context_uri", sa.Text(), nullable=True),
        sa.Column("item", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("job_run_id", sa.BigInteger(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app.users.id"], name=op.f("fk_api_plays_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_plays")),
        sa.UniqueConstraint("user_id", "played_at", "track_id", name=op.f("uq_api_plays_user_id_played_at_track_id")),
        schema="raw",
    )
    op.create_index(op.f("ix_api_plays_ingested_at"), "api_plays", ["ingested_at"], unique=False, schema="raw")
    op.create_index(op.f("ix_api_plays_track_id"), "api_plays", ["track_id"], unique=False, schema="raw")
    op.create_table(
        "export_records",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("import_job_id", sa.BigInteger(), nullable=True),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("played_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ms_played", sa.Integer(), nullable=False),
        sa.Column("content_kind", sa.Text(), nullable=False),
        sa.Column("source_format", sa.Text(), nullable=False),
        sa.Column("track_id", sa.Text(), nullable=True),
        sa.Column("track_name", sa.Text(), nullable=True),
        sa.Column("artist_name", sa.Text(), nullable=True),
        sa.Column("album_name", sa.Text(), nullable=True),
        sa.Column("spotify_uri", sa.Text(), nullable=True),
        sa.Column("episode_name", sa.Text(), nullable=True),
        sa.Column("show_name", sa.Text(), nullable=True),
        sa.Column("audiobook_title", sa.Text(), nullable=True),
        sa.Column("audiobook_chapter_title", sa.Text(), nullable=True),
        sa.Column("incognito", sa.Boolean(), nullable=True),
        sa.Column("extra", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "content_kind IN ('track', 'episode', 'audiobook', 'video')", name=op.f("ck_export_records_content_kind")
        ),
        sa.CheckConstraint("source_format IN ('extended', 'account')", name=op.f("ck_export_records_source_format")),
        sa.CheckConstraint("ms_played >= 0", name=op.f("ck_export_records_ms_played_non_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app.users.id"], name=op.f("fk_export_records_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_records")),
        sa.UniqueConstraint("user_id", "record_key", name=op.f("uq_export_records_user_id_record_key")),
        schema="raw",
    )
    op.create_index(
        op.f("ix_export_records_ingested_at"), "export_records", ["ingested_at"], unique=False, schema="raw"
    )
    op.create_index(
        op.f("ix_export_records_user_id_played_at"),
        "export_records",
        ["user_id", "played_at"],
        unique=False,
        schema="raw",
    )
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("storage_path", sa.Text(), nullable=False),
        sa.Column("original_filename", sa.Text(), nullable=True),
        sa.Column("origin", sa.Text(), server_default=sa.text("'upload'"), nullable=False),
        sa.Column("file_size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("file_sha256", sa.Text(), nullable=True),
        sa.Column("format_detected", sa.Text(), nullable=True),
        sa.Column("records_ingested", sa.BigInteger(), nullable=True),
        sa.Column("records_total", sa.BigInteger(), nullable=True),
        sa.Column("earliest_played_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latest_played_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("job_run_id", sa.BigInteger(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "format_detected IS NULL OR format_detected IN ('endsong', 'streaming_history', 'mixed')",
            name=op.f("ck_import_jobs_format_detected"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'success', 'error', 'partial')", name=op.f("ck_import_jobs_status")
        ),
        sa.ForeignKeyConstraint(
            ["job_run_id"], ["app.job_runs.id"], name=op.f("fk_import_jobs_job_run_id_job_runs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app.users.id"], name=op.f("fk_import_jobs_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
        schema="app",
    )
    op.create_index(
        "ix_import_jobs_pending",
        "import_jobs",
        ["uploaded_at"],
        unique=False,
        schema="app",
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.create_index(
        op.f("ix_import_jobs_user_id"),
        "import_jobs",
        ["user_id", sa.literal_column("uploaded_at DESC")],
        unique=False,
        schema="app",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_import_jobs_user_id"), table_name="import_jobs", schema="app")
    op.drop_index(
        "ix_import_jobs_pending",
        table_name="import_jobs",
        schema="app",
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.drop_table("import_jobs", schema="app")
    op.drop_index(op.f("ix_export_records_user_id_played_at"), table_name="export_records", schema="raw")
    op.drop_index(op.f("ix_export_records_ingested_at"), table_name="export_records", schema="raw")
    op.drop_table("export_records", schema="raw")
    op.drop_index(op.f("ix_api_plays_track_id"), table_name="api_plays", schema="raw")
    op.drop_index(op.f("ix_api_plays_ingested_at"), table_name="api_plays", schema="raw")
    op.drop_table("api_plays", schema="raw")
    op.drop_index(op.f("ix_sync_checkpoints_next_poll_at"), table_name="sync_checkpoints", schema="app")
    op.drop_table("sync_checkpoints", schema="app")
    op.drop_table("spotify_tokens", schema="app")
    op.drop_index("ix_job_runs_user_id_started_at", table_name="job_runs", schema="app")
    op.drop_index("ix_job_runs_job_type_started_at", table_name="job_runs", schema="app")
    op.drop_table("job_runs", schema="app")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens", schema="app")
    op.drop_table("api_tokens", schema="app")
    op.drop_index(op.f("ix_tracks_ingested_at"), table_name="tracks", schema="raw")
    op.drop_table("tracks", schema="raw")
    op.drop_index(op.f("ix_track_resolutions_ingested_at"), table_name="track_resolutions", schema="raw")
    op.drop_table("track_resolutions", schema="raw")
    op.drop_index(op.f("ix_track_artists_ingested_at"), table_name="track_artists", schema="raw")
    op.drop_table("track_artists", schema="raw")
    op.drop_index(op.f("ix_audio_features_ingested_at"), table_name="audio_features", schema="raw")
    op.drop_table("audio_features", schema="raw")
    op.drop_index(op.f("ix_artists_ingested_at"), table_name="artists", schema="raw")
    op.drop_table("artists", schema="raw")
    op.drop_table("worker_heartbeats", schema="app")
    op.drop_table("users", schema="app")
    op.drop_table("spotify_endpoint_status", schema="app")
    op.drop_table("oauth_states", schema="app")
    op.drop_index("ix_logs_timestamp", table_name="logs", schema="app")
    op.drop_index("ix_logs_service_timestamp", table_name="logs", schema="app")
    op.drop_index("ix_logs_context", table_name="logs", schema="app", postgresql_using="gin")
    op.drop_table("logs", schema="app")
    # `app` stays: Alembic's version table lives there.
    op.execute("DROP SCHEMA IF EXISTS raw")
