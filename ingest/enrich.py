"""Enrichment (optional, on by default): what polling's embedded objects do not carry — artist details and
genres, audio features while the app may read them — and the backlog of name-only export tracks
(`ingest.resolve`). Tracks, albums and artists that recently-played (or a search) already returned are landed
with it (`ingest.landing`) and never fetched again; an artist or track asked once is never asked again, even
when Spotify had nothing. Best-effort and resumable: each step picks rows still missing their enrichment, a
small batch per cycle, with the app's client-credentials token, at enrichment's priority in the request budget
(SPOTIFY_ENRICHMENT_SHARE). A removed endpoint is remembered (per app) and skipped; a rate limit or an empty
budget pauses enrichment only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.spotify.client import AUDIO_FEATURES_BATCH, AUDIO_FEATURES_ONE, SpotifyClient
from core.spotify.errors import EndpointRemoved
from ingest.resolve import ResolutionStats, resolve_local_tracks

logger = logging.getLogger(__name__)

# The audio-feature columns of raw.audio_features (besides track_id and the raw payload).
_FEATURE_COLUMNS: Final = (
    "danceability",
    "energy",
    "valence",
    "tempo",
    "instrumentalness",
    "acousticness",
    "liveness",
    "speechiness",
    "loudness",
    "mode",
    "key",
    "time_signature",
)


@dataclass(slots=True)
class EnrichmentBudget:
    artists: int = 50
    audio_features: int = 100
    resolutions: int = 10


@dataclass(slots=True)
class EnrichmentStats:
    artists: int = 0
    audio_features: int = 0
    audio_features_unavailable: bool = False
    names: ResolutionStats = field(default_factory=ResolutionStats)

    @property
    def touched(self) -> int:
        names = self.names
        return self.artists + self.audio_features + names.resolved + names.ambiguous + names.not_found

    def as_dict(self) -> dict[str, object]:
        names = self.names
        return {
            "artists": self.artists,
            "audio_features": self.audio_features,
            "audio_features_unavailable": self.audio_features_unavailable,
            "resolved": names.resolved,
            "ambiguous": names.ambiguous,
            "not_found": names.not_found,
            "searches": names.searched,
            "resolved_from_cache": names.from_cache,
            "resolved_from_catalog": names.from_catalog,
        }


async def enrich(engine: AsyncEngine, client: SpotifyClient, budget: EnrichmentBudget) -> EnrichmentStats:
    stats = EnrichmentStats()
    await enrich_artists(engine, client, budget.artists, stats)
    await enrich_audio_features(engine, client, budget.audio_features, stats)
    await resolve_local_tracks(engine, client, budget.resolutions, stats.names)
    return stats


async def enrich_artists(engine: AsyncEngine, client: SpotifyClient, limit: int, stats: EnrichmentStats) -> None:
    async with engine.connect() as connection:
        ids = list(
            (
                await connection.scalars(
                    text(
                        "SELECT artist_id FROM raw.artists WHERE details_fetched_at IS NULL "
                        "AND artist_id NOT LIKE 'local:%' ORDER BY ingested_at, artist_id LIMIT :limit"
                    ),
                    {"limit": limit},
                )
            ).all()
        )
    if not ids:
        return
    found = await client.get_artists(ids)
    artists = tables.artists
    async with engine.begin() as connection:
        for artist_id, artist in zip(ids, found, strict=True):
            values: dict[str, object] = {"details_fetched_at": text("now()")}
            if artist is not None:
                values |= {
                    "genres": artist.genres,
                    "popularity": artist.popularity,
                    "payload": artist.model_dump(mode="json", exclude_unset=True),
                    "ingested_at": text("now()"),
                }
                if artist.name:
                    values["name"] = artist.name
            await connection.execute(update(artists).where(artists.c.artist_id == artist_id).values(values))
            stats.artists += 1


async def enrich_audio_features(engine: AsyncEngine, client: SpotifyClient, limit: int, stats: EnrichmentStats) -> None:
    if client.endpoints.is_removed(AUDIO_FEATURES_BATCH) and client.endpoints.is_removed(AUDIO_FEATURES_ONE):
        stats.audio_features_unavailable = True
        return
    async with engine.connect() as connection:
        ids = list(
            (
                await connection.scalars(
                    text(
                        "SELECT t.track_id FROM raw.tracks t LEFT JOIN raw.audio_features f USING (track_id) "
                        "WHERE f.track_id IS NULL AND t.track_id NOT LIKE 'local:%' "
                        "ORDER BY t.ingested_at, t.track_id LIMIT :limit"
                    ),
                    {"limit": limit},
                )
            ).all()
        )
    if not ids:
        return
    try:
        features = await client.get_audio_features(ids)
    except EndpointRemoved:
        stats.audio_features_unavailable = True
        logger.info("audio features are not available to this Spotify app; not asking again")
        return
    # Rows without features (Spotify has none for the track) are kept with nulls: asked once, not again.
    full: list[dict[str, object]] = []
    for track_id, feature in zip(ids, features, strict=True):
        row: dict[str, object] = dict.fromkeys(_FEATURE_COLUMNS) | {"track_id": track_id, "payload": None}
        if feature is not None:
            row |= feature.model_dump(include=set(_FEATURE_COLUMNS))
            row["payload"] = feature.model_dump(mode="json", exclude_unset=True)
        full.append(row)
    async with engine.begin() as connection:
        await connection.execute(insert(tables.audio_features).values(full).on_conflict_do_nothing())
    stats.audio_features += len(full)
