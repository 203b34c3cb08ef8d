"""Enrichment (optional, on by default): artist details and genres, audio features while the app may read
them, and resolution of `local:` export tracks to Spotify ids via search. Best-effort and resumable: each
step picks rows still missing their enrichment, a small budget per cycle, with the app's client-credentials
token. A removed endpoint is remembered (per app) and skipped; a rate limit pauses enrichment only.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Final

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.spotify.client import AUDIO_FEATURES_BATCH, AUDIO_FEATURES_ONE, SpotifyClient
from core.spotify.errors import EndpointRemoved, SpotifyHTTPError
from core.spotify.models import Track

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

RESOLVED_AT = 0.85
AMBIGUOUS_AT = 0.5


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
    resolved: int = 0
    ambiguous: int = 0
    not_found: int = 0

    @property
    def touched(self) -> int:
        return self.artists + self.audio_features + self.resolved + self.ambiguous + self.not_found

    def as_dict(self) -> dict[str, object]:
        return {
            "artists": self.artists,
            "audio_features": self.audio_features,
            "audio_features_unavailable": self.audio_features_unavailable,
            "resolved": self.resolved,
            "ambiguous": self.ambiguous,
            "not_found": self.not_found,
        }


async def enrich(engine: AsyncEngine, client: SpotifyClient, budget: EnrichmentBudget) -> EnrichmentStats:
    stats = EnrichmentStats()
    await enrich_artists(engine, client, budget.artists, stats)
    await enrich_audio_features(engine, client, budget.audio_features, stats)
    await resolve_local_tracks(engine, client, budget.resolutions, stats)
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


def normalize(value: str | None) -> str:
    """Lower-case, accents and bracketed/dash suffixes ("- Remastered 2011", "(feat. X)") removed."""
    if not value:
        return ""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    folded = re.sub(r"\s*[\(\[].*?[\)\]]", "", folded)
    folded = re.sub(r"\s+-\s+.*$", "", folded)
    return re.sub(r"[^a-z0-9]+", " ", folded).strip()


def _similar(left: str, right: str) -> float:
    if not left or not right:
        return 0.0
    if left == right:
        return 1.0
    return SequenceMatcher(None, left, right).ratio()


def confidence(track_name: str, artist_name: str | None, album_name: str | None, candidate: Track) -> float:
    """0..1. The title gates everything (a wrong title by the right artist is no match); artist and album
    then separate the original from covers and namesakes. An unknown artist or album counts half."""
    title = _similar(normalize(track_name), normalize(candidate.name))
    artists = [normalize(artist.name) for artist in candidate.artists or []]
    artist = max((_similar(normalize(artist_name), name) for name in artists), default=0.0) if artist_name else 0.5
    album = (
        _similar(normalize(album_name), normalize(candidate.album.name if candidate.album else None))
        if album_name
        else 0.5
    )
    return round(title * (0.6 + 0.3 * artist + 0.1 * album), 4)


def _quote(value: str) -> str:
    return value.replace('"', " ").strip()


def search_title(value: str) -> str:
    """The title as Spotify's search matches it: without "(feat. …)", "[Live]" or " - 2015 Remaster"."""
    cleaned = re.sub(r"\s*[\(\[].*?[\)\]]", "", value)
    cleaned = re.sub(r"\s+-\s+.*$", "", cleaned).strip()
    return cleaned or value


async def resolve_local_tracks(engine: AsyncEngine, client: SpotifyClient, limit: int, stats: EnrichmentStats) -> None:
    async with engine.connect() as connection:
        pending = (
            await connection.execute(
                text(
                    "SELECT DISTINCT ON (e.track_id) e.track_id, e.track_name, e.artist_name, e.album_name "
                    "FROM raw.export_records e LEFT JOIN raw.track_resolutions r ON r.local_track_id = e.track_id "
                    "WHERE e.track_id LIKE 'local:%' AND r.local_track_id IS NULL AND e.track_name IS NOT NULL "
                    "ORDER BY e.track_id LIMIT :limit"
                ),
                {"limit": limit},
            )
        ).all()
    for row in pending:
        local_id, track_name = str(row.track_id), str(row.track_name)
        artist_name: str | None = row.artist_name
        album_name: str | None = row.album_name
        query = f'track:"{_quote(search_title(track_name))}"' + (
            f' artist:"{_quote(artist_name)}"' if artist_name else ""
        )
        try:
            result = await client.search(query, types=("track",), limit=min(10, client.max_search_limit))
        except SpotifyHTTPError as problem:
            logger.warning("search for a local track failed: %s", problem)
            continue
        candidates = [track for track in (result.tracks.items if result.tracks else []) if track.id]
        scored = sorted(
            ((confidence(track_name, artist_name, album_name, track), track) for track in candidates),
            key=lambda pair: -pair[0],
        )
        best_score, best = scored[0] if scored else (0.0, None)
        runner_up = scored[1][0] if len(scored) > 1 and scored[1][1].id != (best.id if best else None) else 0.0
        if best is not None and best_score >= RESOLVED_AT and best_score - runner_up >= 0.05:
            status = "resolved"
            stats.resolved += 1
        elif best is not None and best_score >= AMBIGUOUS_AT:
            status = "ambiguous"
            stats.ambiguous += 1
        else:
            status = "not_found"
            stats.not_found += 1
        async with engine.begin() as connection:
            await connection.execute(
                insert(tables.track_resolutions)
                .values(
                    local_track_id=local_id,
                    spotify_track_id=best.id if best is not None and status != "not_found" else None,
                    status=status,
                    confidence=best_score,
                    method="search",
                    query=query,
                )
                .on_conflict_do_nothing()
            )
