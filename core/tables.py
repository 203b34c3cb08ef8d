"""Table definitions of the schemas Alembic owns: `app` (operational) and `raw` (landing).

The database is the contract between the processes (DESIGN §4): the collector and importer write `raw`,
dbt reads `raw` and owns `staging`/`intermediate`/`marts`, the cluster step writes `ml`, the API reads
marts. Everything here is SQLAlchemy Core so that queries stay explicit SQL.

Conventions: every timestamp is `timestamptz`; every `raw` row carries `ingested_at` (incremental dbt
models select by it, never by `played_at`) and the job that landed it; idempotency is a unique key per
table so re-landing the same data changes nothing; deleting a user cascades to all of their rows.
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
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

APP_SCHEMA = "app"
RAW_SCHEMA = "raw"
OWNED_SCHEMAS = (APP_SCHEMA, RAW_SCHEMA)
# Built by dbt and the cluster step; migrations never touch them.
DBT_SCHEMAS = ("staging", "intermediate", "marts", "ml")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Value sets (also used by check constraints, so the database refuses anything else).
USER_STATUSES = ("active", "paused", "needs_reauth", "disabled")
SYNC_STATUSES = ("idle", "importing", "initial_sync", "polling", "error", "paused", "needs_reauth", "rate_limited")
JOB_TYPES = ("import_zip", "initial_sync", "poll", "enrich", "transform", "purge_logs")
# interrupted: stopped by a signal mid-run; abandoned: left running by a process that was killed.
JOB_STATUSES = ("running", "success", "error", "partial", "interrupted", "abandoned")
# preview: queued for the collector to preview (nothing imported); previewed: the preview is stored and waits for
# the person to confirm (→ pending) or discard (→ discarded, the file deleted). See ingest/imports/preview_jobs.py.
IMPORT_STATUSES = ("pending", "running", "success", "error", "partial", "preview", "previewed", "discarded")
# `listenbrainz` / `lastfm`: scrobbles (ingest.imports.scrobbles); `mixed`: more than one kind in one file.
IMPORT_FORMATS = ("endsong", "streaming_history", "mixed", "listenbrainz", "lastfm")
SCROBBLE_SOURCES = ("listenbrainz", "lastfm")
LOG_SERVICES = ("api", "collector", "frontend", "transform", "dashboards", "cli")
LOG_LEVELS = ("debug", "info", "warning", "error")
CONTENT_KINDS = ("track", "episode", "audiobook", "video")
# Why a Spotify request was made, highest priority first (core.spotify.budget).
REQUEST_PURPOSES = ("token", "polling", "initial_sync", "enrichment", "tools")
NOTIFICATION_KINDS = ("needs_reauth", "token_expiring", "quota_exhausted", "poll_failures", "import_failed")
NOTIFICATION_STATUSES = ("pending", "sent", "failed", "unconfigured")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def _created_at() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated_at() -> Column[object]:
    return Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _ingested_at() -> Column[object]:
    return Column("ingested_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _user_fk(*, nullable: bool = False) -> Column[object]:
    return Column(
        "user_id",
        UUID(as_uuid=True),
        ForeignKey(f"{APP_SCHEMA}.users.id", ondelete="CASCADE"),
        nullable=nullable,
    )


# ==================================================================================================
# app: operational tables
# ==================================================================================================

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    # Null for local (ZIP-only) users, who never connected a Spotify account.
    Column("spotify_user_id", Text, nullable=True, unique=True),
    Column("email", Text, nullable=True),
    Column("display_name", Text, nullable=True),
    Column("timezone", Text, nullable=False, server_default=text("'UTC'")),
    # Set by a trigger (migration 0008) whenever `timezone` changes: the transform rebuilds the user's local-time
    # marts when it is newer than its watermark.
    Column("timezone_changed_at", DateTime(timezone=True), nullable=True),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    _created_at(),
    _updated_at(),
    CheckConstraint(_in("status", USER_STATUSES), name="status"),
    schema=APP_SCHEMA,
)

spotify_tokens = Table(
    "spotify_tokens",
    metadata,
    Column(
        "user_id",
        UUID(as_uuid=True),
        ForeignKey(f"{APP_SCHEMA}.users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # Fernet ciphertext (core.crypto); the raw refresh token is never stored.
    Column("refresh_token_enc", Text, nullable=False),
    # Access tokens are short-lived but are bearer credentials too: kept encrypted as well.
    Column("access_token_enc", Text, nullable=True),
    Column("access_token_expires_at", DateTime(timezone=True), nullable=True),
    Column("scope", Text, nullable=False),
    Column("token_type", Text, nullable=False, server_default=text("'Bearer'")),
    # Spotify refresh tokens die 6 months after the original consent; refreshing does not extend it.
    Column("consented_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("refresh_token_expires_at", DateTime(timezone=True), nullable=True),
    # The Spotify app (client id) that issued it: removed endpoints are remembered per app.
    Column("client_id", Text, nullable=True),
    _updated_at(),
    schema=APP_SCHEMA,
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    _user_fk(),
    Column("name", Text, nullable=False),
    # sha256 of the token; the token itself is shown once at creation and never stored.
    Column("token_hash", Text, nullable=False, unique=True),
    # First characters of the token, to recognise it in lists.
    Column("token_prefix", Text, nullable=False),
    Column("scopes", Text, nullable=False, server_default=text("'tools:read'")),
    _created_at(),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index(None, "user_id"),
    schema=APP_SCHEMA,
)

oauth_states = Table(
    "oauth_states",
    metadata,
    # sha256 of the `state` sent to Spotify: single-use, bound to the browser that started login.
    Column("state_hash", Text, primary_key=True),
    Column("browser_binding_hash", Text, nullable=False),
    Column("code_verifier_enc", Text, nullable=False),
    Column("redirect_after", Text, nullable=True),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    schema=APP_SCHEMA,
)

sync_checkpoints = Table(
    "sync_checkpoints",
    metadata,
    Column(
        "user_id",
        UUID(as_uuid=True),
        ForeignKey(f"{APP_SCHEMA}.users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
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
    _updated_at(),
    CheckConstraint(_in("status", SYNC_STATUSES), name="status"),
    Index(None, "next_poll_at"),
    schema=APP_SCHEMA,
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_type", Text, nullable=False),
    _user_fk(nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", Text, nullable=False, server_default=text("'running'")),
    Column("stats", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("error_message", Text, nullable=True),
    # Which process ran it (host:pid), for diagnosing several collectors.
    Column("worker_id", Text, nullable=True),
    CheckConstraint(_in("job_type", JOB_TYPES), name="job_type"),
    CheckConstraint(_in("status", JOB_STATUSES), name="status"),
    Index("ix_job_runs_user_id_started_at", "user_id", text("started_at DESC")),
    Index("ix_job_runs_job_type_started_at", "job_type", text("started_at DESC")),
    schema=APP_SCHEMA,
)

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _user_fk(),
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
    CheckConstraint(_in("status", IMPORT_STATUSES), name="status"),
    CheckConstraint(f"format_detected IS NULL OR {_in('format_detected', IMPORT_FORMATS)}", name="format_detected"),
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
    CheckConstraint(_in("level", LOG_LEVELS), name="level"),
    Index("ix_logs_service_timestamp", "service", text("timestamp DESC")),
    Index("ix_logs_timestamp", "timestamp"),
    Index("ix_logs_context", "context", postgresql_using="gin"),
    schema=APP_SCHEMA,
)

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
    CheckConstraint(_in("purpose", REQUEST_PURPOSES), name="purpose"),
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

notifications = Table(
    "notifications",
    metadata,
    # Events that need the owner (ingest.notifications), each sent once: `event_key` names the occurrence
    # (e.g. `import_failed:42`), so finding the same event again adds nothing.
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_key", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    _user_fk(nullable=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    _created_at(),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # Fingerprints of the NOTIFY_URLS that took it: a retry after a partial failure skips them.
    Column("delivered", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="kind"),
    CheckConstraint(_in("status", NOTIFICATION_STATUSES), name="status"),
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


# Playlists written by the tools (serve/tools/playlists): one row per write request, keyed by the caller's
# idempotency key (or one derived from the request), so a retried call returns the first playlist and a write cut
# short by Spotify's rate limit resumes where it stopped (`added` counts the items Spotify confirmed).
PLAYLIST_WRITE_KINDS = ("create", "add")
PLAYLIST_WRITE_STATUSES = ("pending", "adding", "complete")
TRACK_LOOKUP_STATUSES = ("resolved", "ambiguous", "not_found")

playlist_writes = Table(
    "playlist_writes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _user_fk(),
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
    _created_at(),
    _updated_at(),
    UniqueConstraint("user_id", "idempotency_key"),
    CheckConstraint(_in("kind", PLAYLIST_WRITE_KINDS), name="kind"),
    CheckConstraint(_in("status", PLAYLIST_WRITE_STATUSES), name="status"),
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
    _created_at(),
    CheckConstraint(_in("status", TRACK_LOOKUP_STATUSES), name="status"),
    schema=APP_SCHEMA,
)


# ==================================================================================================
# raw: append-only, idempotent landing tables
# ==================================================================================================

api_plays = Table(
    "api_plays",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _user_fk(),
    # End of playback, UTC (Spotify's `played_at`).
    Column("played_at", DateTime(timezone=True), nullable=False),
    Column("track_id", Text, nullable=False),
    # recently-played does not say how long was listened: always null here.
    Column("ms_played", Integer, nullable=True),
    Column("context_type", Text, nullable=True),
    Column("context_uri", Text, nullable=True),
    # The `track` object as Spotify sent it (what enrichment and dbt may need later).
    Column("item", JSONB, nullable=True),
    Column("job_run_id", BigInteger, nullable=True),
    _ingested_at(),
    UniqueConstraint("user_id", "played_at", "track_id"),
    Index(None, "ingested_at"),
    Index(None, "track_id"),
    schema=RAW_SCHEMA,
)

export_records = Table(
    "export_records",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    # No row-level foreign key: checking one per COPYed row cost PostgreSQL ~5 µs of its ~12 µs per record
    # (bench/README.md, ZIP import). The importer locks the user row (FOR KEY SHARE) once per batch instead,
    # and the `users_delete_export_records` trigger (migration 0003) keeps ON DELETE CASCADE.
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("import_job_id", BigInteger, nullable=True),
    # Idempotency key computed by the importer from the record's identity (see ingest); a re-import
    # or an overlapping export adds nothing.
    # Compared byte-wise (COLLATE "C"): it is an identifier, and the unique index is cheaper to fill.
    Column("record_key", Text(collation="C"), nullable=False),
    # End of playback, UTC (`ts` / `endTime`).
    Column("played_at", DateTime(timezone=True), nullable=False),
    Column("ms_played", Integer, nullable=False),
    Column("content_kind", Text, nullable=False),
    # `extended` (Streaming_History_* / endsong_*) or `account` (StreamingHistory*).
    Column("source_format", Text, nullable=False),
    # Spotify id when the export has a URI, else `local:<sha1(artist|track|album)>` (tracks only).
    Column("track_id", Text, nullable=True),
    Column("track_name", Text, nullable=True),
    Column("artist_name", Text, nullable=True),
    Column("album_name", Text, nullable=True),
    Column("spotify_uri", Text, nullable=True),
    Column("episode_name", Text, nullable=True),
    Column("show_name", Text, nullable=True),
    Column("audiobook_title", Text, nullable=True),
    Column("audiobook_chapter_title", Text, nullable=True),
    Column("incognito", Boolean, nullable=True),
    # Optional fields (reason_start/end, shuffle, skipped, offline, platform, country, …), stored only
    # when IMPORT_STORE_OPTIONAL_FIELDS is enabled; never IP address, user agent or user name.
    Column("extra", JSONB, nullable=True),
    Column("source_file", Text, nullable=True),
    _ingested_at(),
    UniqueConstraint("user_id", "record_key"),
    CheckConstraint(_in("content_kind", CONTENT_KINDS), name="content_kind"),
    CheckConstraint("source_format IN ('extended', 'account')", name="source_format"),
    CheckConstraint("ms_played >= 0", name="ms_played_non_negative"),
    # BRIN: rows arrive in `ingested_at` order, so block ranges answer the transform's `ingested_at >=`
    # watermark as well as a b-tree would, at almost no cost per COPYed row (migration 0003).
    Index(None, "ingested_at", postgresql_using="brin", postgresql_with={"autosummarize": "on"}),
    Index(None, "user_id", "played_at"),
    schema=RAW_SCHEMA,
)

scrobbles = Table(
    "scrobbles",
    metadata,
    # Listens another service recorded (ListenBrainz listens, Last.fm scrobbles), imported from their exports
    # (ingest.imports.scrobbles). A scrobble marks the START of a listen and says nothing of how long it lasted;
    # dbt matches it to the same listen from Spotify (docs/warehouse-contract.md, "Scrobbles").
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    # No row-level foreign key, as for export_records (cost per COPYed row): the importer locks the user row
    # per batch and the `users_delete_scrobbles` trigger (migration 0012) removes a deleted user's rows.
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("import_job_id", BigInteger, nullable=True),
    # `<start, UTC>|<sha1 of the case-folded artist and track>`: the same listen from a re-import, from an
    # overlapping export, or from the other service (ListenBrainz imports Last.fm history) is one row.
    Column("record_key", Text(collation="C"), nullable=False),
    Column("source", Text, nullable=False),
    # Start of the listen, UTC (`listened_at` / `date.uts`), whole seconds.
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("artist_name", Text, nullable=False),
    Column("track_name", Text, nullable=False),
    Column("album_name", Text, nullable=True),
    # Spotify track id when the source knew it (ListenBrainz `additional_info.spotify_id`).
    Column("spotify_track_id", Text, nullable=True),
    # MusicBrainz ids when present (the first artist's for several).
    Column("recording_mbid", Text, nullable=True),
    Column("release_mbid", Text, nullable=True),
    Column("artist_mbid", Text, nullable=True),
    # The track's length when the source said it (ListenBrainz `duration_ms` / `duration`); not how long it played.
    Column("duration_ms", Integer, nullable=True),
    Column("source_file", Text, nullable=True),
    _ingested_at(),
    UniqueConstraint("user_id", "record_key"),
    CheckConstraint(_in("source", SCROBBLE_SOURCES), name="source"),
    CheckConstraint("duration_ms IS NULL OR duration_ms > 0", name="duration_ms_positive"),
    Index(None, "ingested_at", postgresql_using="brin", postgresql_with={"autosummarize": "on"}),
    Index(None, "user_id", "started_at"),
    schema=RAW_SCHEMA,
)

tracks = Table(
    "tracks",
    metadata,
    # Latest snapshot per track as fetched from the API (upserted, ingested_at moves on change).
    Column("track_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("album_id", Text, nullable=True),
    Column("album_name", Text, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("explicit", Boolean, nullable=True),
    Column("popularity", Integer, nullable=True),
    Column("preview_url", Text, nullable=True),
    Column("uri", Text, nullable=True),
    Column("source", Text, nullable=False, server_default=text("'spotify_api'")),
    Column("payload", JSONB, nullable=True),
    _ingested_at(),
    Index(None, "ingested_at"),
    schema=RAW_SCHEMA,
)

artists = Table(
    "artists",
    metadata,
    Column("artist_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("genres", JSONB, nullable=True),
    Column("popularity", Integer, nullable=True),
    Column("uri", Text, nullable=True),
    Column("source", Text, nullable=False, server_default=text("'spotify_api'")),
    Column("payload", JSONB, nullable=True),
    # When full artist details (genres) were fetched; null = only the simplified object seen so far.
    Column("details_fetched_at", DateTime(timezone=True), nullable=True),
    _ingested_at(),
    Index(None, "ingested_at"),
    schema=RAW_SCHEMA,
)

track_artists = Table(
    "track_artists",
    metadata,
    Column("track_id", Text, nullable=False),
    Column("artist_id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    _ingested_at(),
    PrimaryKeyConstraint("track_id", "artist_id"),
    Index(None, "ingested_at"),
    schema=RAW_SCHEMA,
)

audio_features = Table(
    "audio_features",
    metadata,
    Column("track_id", Text, primary_key=True),
    Column("danceability", Float, nullable=True),
    Column("energy", Float, nullable=True),
    Column("valence", Float, nullable=True),
    Column("tempo", Float, nullable=True),
    Column("instrumentalness", Float, nullable=True),
    Column("acousticness", Float, nullable=True),
    Column("liveness", Float, nullable=True),
    Column("speechiness", Float, nullable=True),
    Column("loudness", Float, nullable=True),
    Column("mode", Integer, nullable=True),
    Column("key", Integer, nullable=True),
    Column("time_signature", Integer, nullable=True),
    Column("payload", JSONB, nullable=True),
    _ingested_at(),
    Index(None, "ingested_at"),
    schema=RAW_SCHEMA,
)

track_resolutions = Table(
    "track_resolutions",
    metadata,
    # A `local:` track id from an export, resolved (or not) to a Spotify track id via search.
    Column("local_track_id", Text, primary_key=True),
    Column("spotify_track_id", Text, nullable=True),
    # `resolved`, `not_found` or `ambiguous`.
    Column("status", Text, nullable=False),
    Column("confidence", Float, nullable=True),
    # `search` (one Spotify search), `catalog` (matched against tracks already fetched, no request) or `cache`
    # (the same normalised title and artist was looked up before).
    Column("method", Text, nullable=False, server_default=text("'search'")),
    Column("query", Text, nullable=True),
    # Normalised `title|artist` (ingest.resolve.lookup_key): no name is looked up twice.
    Column("lookup_key", Text, nullable=True),
    _ingested_at(),
    CheckConstraint("status IN ('resolved', 'not_found', 'ambiguous')", name="status"),
    CheckConstraint("confidence IS NULL OR (confidence >= 0 AND confidence <= 1)", name="confidence_range"),
    Index(None, "ingested_at"),
    Index(None, "lookup_key"),
    schema=RAW_SCHEMA,
)


# ---------------------------------------------------------------------------------------------------------------
# OAuth 2.1 authorization server for MCP clients (ChatGPT, Claude): serve/oauth. Every secret (client secret,
# authorization code, access/refresh token, one-time sign-in link) is stored as a sha256 hash; passwords with
# scrypt. Migration 0002.
# ---------------------------------------------------------------------------------------------------------------

OAUTH_CLIENT_KINDS = ("preregistered", "dcr", "cimd")
OAUTH_TOKEN_KINDS = ("access", "refresh")


def _oauth_client_fk() -> Column[object]:
    return Column(
        "client_id",
        Text,
        ForeignKey(f"{APP_SCHEMA}.oauth_clients.client_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


oauth_clients = Table(
    "oauth_clients",
    metadata,
    # DCR: a random id; CIMD: the https URL of the client's metadata document; pre-registered: set by the admin.
    Column("client_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("client_secret_hash", Text, nullable=True),
    Column("token_endpoint_auth_method", Text, nullable=False, server_default=text("'none'")),
    Column("client_name", Text, nullable=True),
    Column("client_uri", Text, nullable=True),
    Column("redirect_uris", JSONB, nullable=False),
    # The registration request (DCR) or the fetched metadata document (CIMD), as validated.
    Column("client_metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # CIMD cache: when the document was last fetched (refetched after a TTL).
    Column("fetched_at", DateTime(timezone=True), nullable=True),
    # DCR: the registering client's address (IPv4, or an IPv6 /64), for the per-address registration limit.
    Column("registered_from", Text, nullable=True),
    _created_at(),
    CheckConstraint(_in("kind", OAUTH_CLIENT_KINDS), name="kind"),
    Index("ix_oauth_clients_registered_from_created_at", "registered_from", "created_at"),
    schema=APP_SCHEMA,
)

oauth_authorization_codes = Table(
    "oauth_authorization_codes",
    metadata,
    Column("code_hash", Text, primary_key=True),
    _oauth_client_fk(),
    _user_fk(),
    Column("redirect_uri", Text, nullable=False),
    # PKCE S256 only: base64url(sha256(verifier)).
    Column("code_challenge", Text, nullable=False),
    Column("resource", Text, nullable=False),
    Column("scope", Text, nullable=False),
    # Tokens issued for this code share it: a replayed code revokes them (RFC 9700 §4.5).
    Column("family_id", UUID(as_uuid=True), nullable=False),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    schema=APP_SCHEMA,
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    # One family per authorization: refresh rotation keeps it; reuse of a rotated refresh token revokes it all.
    Column("family_id", UUID(as_uuid=True), nullable=False, index=True),
    _oauth_client_fk(),
    _user_fk(),
    # RFC 8707 audience: `<public base>/mcp`.
    Column("resource", Text, nullable=False),
    Column("scope", Text, nullable=False),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # Refresh tokens: when it was exchanged for a new pair (a second use is reuse).
    Column("rotated_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(_in("kind", OAUTH_TOKEN_KINDS), name="kind"),
    schema=APP_SCHEMA,
)

oauth_grants = Table(
    "oauth_grants",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    _user_fk(),
    _oauth_client_fk(),
    Column("scope", Text, nullable=False),
    _created_at(),
    Column("last_authorized_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("user_id", "client_id"),
    schema=APP_SCHEMA,
)

oauth_local_credentials = Table(
    "oauth_local_credentials",
    metadata,
    Column(
        "user_id",
        UUID(as_uuid=True),
        ForeignKey(f"{APP_SCHEMA}.users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # What a local (ZIP-only) user types on the sign-in page.
    Column("login_name", Text, nullable=False, unique=True),
    # `scrypt$n$r$p$salt_hex$hash_hex` (hashlib.scrypt); null when only one-time links are used.
    Column("password_hash", Text, nullable=True),
    # Brute-force brake: consecutive failures, and no attempts are checked until `locked_until`.
    Column("failed_attempts", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    _created_at(),
    _updated_at(),
    schema=APP_SCHEMA,
)

oauth_signin_links = Table(
    "oauth_signin_links",
    metadata,
    Column("link_hash", Text, primary_key=True),
    _user_fk(),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    schema=APP_SCHEMA,
)
