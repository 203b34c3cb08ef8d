"""raw: append-only, idempotent landing tables (API plays, export records, scrobbles, catalog snapshots,
resolutions of local track ids).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from core.tables.base import (
    RAW_SCHEMA,
    ingested_at,
    metadata,
    one_of,
    user_fk,
)

CONTENT_KINDS = ("track", "episode", "audiobook", "video")
SCROBBLE_SOURCES = ("listenbrainz", "lastfm")


api_plays = Table(
    "api_plays",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    user_fk(),
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
    ingested_at(),
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
    ingested_at(),
    UniqueConstraint("user_id", "record_key"),
    CheckConstraint(one_of("content_kind", CONTENT_KINDS), name="content_kind"),
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
    ingested_at(),
    UniqueConstraint("user_id", "record_key"),
    CheckConstraint(one_of("source", SCROBBLE_SOURCES), name="source"),
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
    ingested_at(),
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
    ingested_at(),
    Index(None, "ingested_at"),
    schema=RAW_SCHEMA,
)

track_artists = Table(
    "track_artists",
    metadata,
    Column("track_id", Text, nullable=False),
    Column("artist_id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    ingested_at(),
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
    ingested_at(),
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
    ingested_at(),
    CheckConstraint("status IN ('resolved', 'not_found', 'ambiguous')", name="status"),
    CheckConstraint("confidence IS NULL OR (confidence >= 0 AND confidence <= 1)", name="confidence_range"),
    Index(None, "ingested_at"),
    Index(None, "lookup_key"),
    schema=RAW_SCHEMA,
)
