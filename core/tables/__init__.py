"""Table definitions of the schemas Alembic owns: `app` (operational) and `raw` (landing).

The database is the contract between the processes (DESIGN §4): the collector and importer write `raw`,
dbt reads `raw` and owns `staging`/`intermediate`/`marts`, the cluster step writes `ml`, the API reads
marts. Everything here is SQLAlchemy Core so that queries stay explicit SQL.

Conventions: every timestamp is `timestamptz`; every `raw` row carries `ingested_at` (incremental dbt
models select by it, never by `played_at`) and the job that landed it; idempotency is a unique key per
table so re-landing the same data changes nothing; deleting a user cascades to all of their rows.

One module per domain, all on the one `metadata` (base): accounts (users and their credentials), ops (the
workers' record), spotify_calls (the request budget and removed endpoints), playlists (tool writes), raw
(landing tables), oauth (the authorization server for MCP clients). Import from `core.tables`: every name is
re-exported here, so callers need not know which module holds a table.
"""

from __future__ import annotations

from core.tables.accounts import (
    USER_STATUSES,
    api_tokens,
    oauth_states,
    spotify_tokens,
    users,
)
from core.tables.base import (
    APP_SCHEMA,
    DBT_SCHEMAS,
    NAMING_CONVENTION,
    OWNED_SCHEMAS,
    RAW_SCHEMA,
    metadata,
)
from core.tables.oauth import (
    OAUTH_CLIENT_KINDS,
    OAUTH_TOKEN_KINDS,
    oauth_authorization_codes,
    oauth_clients,
    oauth_grants,
    oauth_local_credentials,
    oauth_signin_links,
    oauth_tokens,
)
from core.tables.ops import (
    IMPORT_FORMATS,
    IMPORT_STATUSES,
    JOB_STATUSES,
    JOB_TYPES,
    LOG_LEVELS,
    LOG_SERVICES,
    NOTIFICATION_KINDS,
    NOTIFICATION_STATUSES,
    SYNC_STATUSES,
    import_jobs,
    job_runs,
    logs,
    notifications,
    sync_checkpoints,
    transform_requests,
    worker_heartbeats,
)
from core.tables.playlists import (
    PLAYLIST_WRITE_KINDS,
    PLAYLIST_WRITE_STATUSES,
    TRACK_LOOKUP_STATUSES,
    playlist_writes,
    track_name_lookups,
)
from core.tables.raw import (
    CONTENT_KINDS,
    SCROBBLE_SOURCES,
    api_plays,
    artists,
    audio_features,
    export_records,
    scrobbles,
    track_artists,
    track_resolutions,
    tracks,
)
from core.tables.spotify_calls import (
    REQUEST_PURPOSES,
    spotify_endpoint_status,
    spotify_quota_blocks,
    spotify_requests,
)

__all__ = [
    "APP_SCHEMA",
    "CONTENT_KINDS",
    "DBT_SCHEMAS",
    "IMPORT_FORMATS",
    "IMPORT_STATUSES",
    "JOB_STATUSES",
    "JOB_TYPES",
    "LOG_LEVELS",
    "LOG_SERVICES",
    "NAMING_CONVENTION",
    "NOTIFICATION_KINDS",
    "NOTIFICATION_STATUSES",
    "OAUTH_CLIENT_KINDS",
    "OAUTH_TOKEN_KINDS",
    "OWNED_SCHEMAS",
    "PLAYLIST_WRITE_KINDS",
    "PLAYLIST_WRITE_STATUSES",
    "RAW_SCHEMA",
    "REQUEST_PURPOSES",
    "SCROBBLE_SOURCES",
    "SYNC_STATUSES",
    "TRACK_LOOKUP_STATUSES",
    "USER_STATUSES",
    "api_plays",
    "api_tokens",
    "artists",
    "audio_features",
    "export_records",
    "import_jobs",
    "job_runs",
    "logs",
    "metadata",
    "notifications",
    "oauth_authorization_codes",
    "oauth_clients",
    "oauth_grants",
    "oauth_local_credentials",
    "oauth_signin_links",
    "oauth_states",
    "oauth_tokens",
    "playlist_writes",
    "scrobbles",
    "spotify_endpoint_status",
    "spotify_quota_blocks",
    "spotify_requests",
    "spotify_tokens",
    "sync_checkpoints",
    "track_artists",
    "track_name_lookups",
    "track_resolutions",
    "tracks",
    "transform_requests",
    "users",
    "worker_heartbeats",
]
