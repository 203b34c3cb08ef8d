"""app: the operational record of the workers: sync checkpoints, job runs, import jobs, logs, heartbeats,
notifications and transform requests.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    func,
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

SYNC_STATUSES = ("idle", "importing", "initial_sync", "polling", "error", "paused", "needs_reauth", "rate_limited")
JOB_TYPES = ("import_zip", "initial_sync", "poll", "enrich", "transform", "purge_logs")
# interrupted: stopped by a signal mid-run; abandoned: left running by a process that was killed.
JOB_STATUSES = ("running", "success", "error", "partial", "interrupted", "abandoned")
# preview: queued for the collector to preview (nothing imported); previewed: the preview is stored and waits for
# the person to confirm (→ pending) or discard (→ discarded, the file deleted). See ingest/imports/preview_jobs.py.
IMPORT_STATUSES = ("pending", "running", "success", "error", "partial", "preview", "previewed", "discarded")
# `listenbrainz` / `lastfm`: scrobbles (ingest.imports.scrobbles); `mixed`: more than one kind in one file.
IMPORT_FORMATS = ("endsong", "streaming_history", "mixed", "listenbrainz", "lastfm")
LOG_SERVICES = ("api", "collector", "frontend", "transform", "dashboards", "cli")
LOG_LEVELS = ("debug", "info", "warning", "error")
NOTIFICATION_KINDS = ("needs_reauth", "token_expiring", "quota_exhausted", "poll_failures", "import_failed")
NOTIFICATION_STATUSES = ("pending", "sent", "failed", "unconfigured")


sync_checkpoints = Table(
    "sync_checkpoints",
    metadata,
    user_fk(primary_key=True),
    Column("initial_sync_started_at", DateTime(timezone=True), nullable=True),
    Column("initial_sync_completed_at", DateTime(timezone=True), nullable=True),
    Column("initial_sync_earliest_played_at", DateTime(timezone=True), nullable=True),
    Column("initial_sync_stop_reason", Text, nullable=True),
    Column("last_poll_started_at", DateTime(timezone=True), nullable=True),
    Column("last_poll_completed_at", DateTime(timezone=True), nullable=True),
    Column("last_poll_latest_played_at", DateTime(timezone=True), nullable=True),
    # Scheduling: a collector claims a user only when next_poll_at has passed (FOR UPDATE SKIP LOCKED),
    # so several collectors together poll each user once per interval.
    Column("next_poll_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Set from a long Retry-After / quota answer: no call for this user before then.
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("consecutive_errors", Integer, nullable=False, server_default=text("0")),
    Column("status", Text, nullable=False, server_default=text("'idle'")),
    Column("error_message", Text, nullable=True),
    # Adaptive polling (ingest.cadence): the interval chosen after the last poll, the listening rate it was
    # computed from (plays per hour), and why, in words for the Users page.
    Column("poll_interval_seconds", Integer, nullable=True),
    Column("plays_per_hour", Float, nullable=True),
    Column("poll_reason", Text, nullable=True),
    Column("last_poll_new_plays", Integer, nullable=True),
    # Polls that found Spotify's 50-play window full of new plays: older ones may have been missed.
    Column("window_full_polls", Integer, nullable=False, server_default=text("0")),
    updated_at(),
    CheckConstraint(one_of("status", SYNC_STATUSES), name="status"),
    Index(None, "next_poll_at"),
    schema=APP_SCHEMA,
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_type", Text, nullable=False),
    user_fk(nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", Text, nullable=False, server_default=text("'running'")),
    Column("stats", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("error_message", Text, nullable=True),
    # Which process ran it (host:pid), for diagnosing several collectors.
    Column("worker_id", Text, nullable=True),
    CheckConstraint(one_of("job_type", JOB_TYPES), name="job_type"),
    CheckConstraint(one_of("status", JOB_STATUSES), name="status"),
    Index("ix_job_runs_user_id_started_at", "user_id", text("started_at DESC")),
    Index("ix_job_runs_job_type_started_at", "job_type", text("started_at DESC")),
    schema=APP_SCHEMA,
)

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    user_fk(),
    Column("uploaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("storage_path", Text, nullable=False),
    Column("original_filename", Text, nullable=True),
    # `upload`, `watch` or `cli`: where the file came from.
    Column("origin", Text, nullable=False, server_default=text("'upload'")),
    Column("file_size_bytes", BigInteger, nullable=False),
    # sha256 of the ZIP: the watched folder takes a file once, even with several collectors.
    Column("file_sha256", Text, nullable=True),
    Column("format_detected", Text, nullable=True),
    Column("records_ingested", BigInteger, nullable=True),
    Column("records_total", BigInteger, nullable=True),
    Column("earliest_played_at", DateTime(timezone=True), nullable=True),
    Column("latest_played_at", DateTime(timezone=True), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("job_run_id", BigInteger, ForeignKey(f"{APP_SCHEMA}.job_runs.id", ondelete="SET NULL"), nullable=True),
    # Liveness of the worker running it: a stale heartbeat means the worker died and the job is retaken.
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    # What importing the file would do (ingest.imports.preview.ImportPreview.as_json()), for `previewed` jobs.
    Column("preview", JSONB, nullable=True),
    CheckConstraint(one_of("status", IMPORT_STATUSES), name="status"),
    CheckConstraint(f"format_detected IS NULL OR {one_of('format_detected', IMPORT_FORMATS)}", name="format_detected"),
    Index(None, "user_id", text("uploaded_at DESC")),
    Index("ix_import_jobs_pending", "uploaded_at", postgresql_where=text("status IN ('pending', 'running')")),
    schema=APP_SCHEMA,
)

logs = Table(
    "logs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("service", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("message", Text, nullable=False),
    Column("context", JSONB, nullable=True),
    CheckConstraint(one_of("level", LOG_LEVELS), name="level"),
    Index("ix_logs_service_timestamp", "service", text("timestamp DESC")),
    Index("ix_logs_timestamp", "timestamp"),
    Index("ix_logs_context", "context", postgresql_using="gin"),
    schema=APP_SCHEMA,
)

worker_heartbeats = Table(
    "worker_heartbeats",
    metadata,
    Column("worker_id", Text, primary_key=True),
    Column("service", Text, nullable=False),
    Column("hostname", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("state", Text, nullable=False, server_default=text("'running'")),
    schema=APP_SCHEMA,
)

notifications = Table(
    "notifications",
    metadata,
    # Events that need the owner (ingest.notifications), each sent once: `event_key` names the occurrence
    # (e.g. `import_failed:42`), so finding the same event again adds nothing.
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_key", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    user_fk(nullable=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    created_at(),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # Fingerprints of the NOTIFY_URLS that took it: a retry after a partial failure skips them.
    Column("delivered", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(one_of("kind", NOTIFICATION_KINDS), name="kind"),
    CheckConstraint(one_of("status", NOTIFICATION_STATUSES), name="status"),
    Index(None, "created_at"),
    Index("ix_notifications_pending", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    schema=APP_SCHEMA,
)

transform_requests = Table(
    "transform_requests",
    metadata,
    # "New data landed outside the collector (e.g. `spotify-mcp import` in a shell): build the warehouse."
    # Written together with a NOTIFY that wakes the collector (core.wakeup); consumed by its next transform.
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("reason", Text, nullable=False),
    schema=APP_SCHEMA,
)
