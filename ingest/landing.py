"""Landing what Spotify returns into the `raw` tables, idempotently.

Plays: `INSERT … ON CONFLICT (user_id, played_at, track_id) DO NOTHING` — landing the same plays twice adds
nothing. A play whose time cannot be real (`core.play_time`: before Spotify's launch, more than a day ahead)
is skipped and counted, never stored: it would break every date computation and, as the newest play, hold
the polling cursor in the future. Tracks: upserted, and `ingested_at` moves only when the payload changed.
Artists seen inside a track are inserted once (their full details come from enrichment). Rows are written in
key order so that two collectors landing overlapping catalogue rows cannot deadlock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core import tables
from core.play_time import latest_allowed, out_of_range
from core.spotify.models import PlayHistory, SimplifiedArtist, Track

logger = logging.getLogger("ingest.landing")


@dataclass(slots=True)
class LandingStats:
    fetched: int = 0
    inserted: int = 0
    skipped_without_id: int = 0
    skipped_out_of_range: int = 0
    tracks: int = 0
    artists: int = 0

    def add(self, other: LandingStats) -> None:
        self.fetched += other.fetched
        self.inserted += other.inserted
        self.skipped_without_id += other.skipped_without_id
        self.skipped_out_of_range += other.skipped_out_of_range
        self.tracks += other.tracks
        self.artists += other.artists


def _payload(model: Track | SimplifiedArtist) -> dict[str, object]:
    return model.model_dump(mode="json", exclude_unset=True)


async def land_catalog(connection: AsyncConnection, track_list: Sequence[Track]) -> tuple[int, int]:
    """Upsert tracks and their artists (only those with ids). Returns (tracks, artists) touched."""
    tracks_by_id = {track.id: track for track in track_list if track.id}
    artists_by_id: dict[str, SimplifiedArtist] = {}
    links: set[tuple[str, str, int]] = set()
    for track_id, track in tracks_by_id.items():
        for position, artist in enumerate(track.artists or []):
            if artist.id:
                artists_by_id.setdefault(artist.id, artist)
                links.add((track_id, artist.id, position))
    if tracks_by_id:
        rows = [
            {
                "track_id": track_id,
                "name": track.name or "",
                "album_id": track.album.id if track.album else None,
                "album_name": track.album.name if track.album else None,
                "duration_ms": track.duration_ms,
                "explicit": track.explicit,
                "popularity": track.popularity,
                "preview_url": track.preview_url,
                "uri": track.uri,
                "source": "spotify_api",
                "payload": _payload(track),
            }
            for track_id, track in sorted(tracks_by_id.items())
        ]
        statement = insert(tables.tracks).values(rows)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[tables.tracks.c.track_id],
            set_={
                "name": excluded.name,
                "album_id": excluded.album_id,
                "album_name": excluded.album_name,
                "duration_ms": excluded.duration_ms,
                "explicit": excluded.explicit,
                "popularity": excluded.popularity,
                "preview_url": excluded.preview_url,
                "uri": excluded.uri,
                "payload": excluded.payload,
                "ingested_at": func.now(),
            },
            where=tables.tracks.c.payload.is_distinct_from(excluded.payload),
        )
        await connection.execute(statement)
    if artists_by_id:
        artist_rows = [
            {
                "artist_id": artist_id,
                "name": artist.name or "",
                "uri": artist.uri,
                "source": "spotify_api",
                "payload": _payload(artist),
            }
            for artist_id, artist in sorted(artists_by_id.items())
        ]
        await connection.execute(insert(tables.artists).values(artist_rows).on_conflict_do_nothing())
    if links:
        link_rows = [{"track_id": t, "artist_id": a, "position": p} for t, a, p in sorted(links)]
        await connection.execute(insert(tables.track_artists).values(link_rows).on_conflict_do_nothing())
    return len(tracks_by_id), len(artists_by_id)


def plausible(plays: Sequence[PlayHistory], now: datetime | None = None) -> list[PlayHistory]:
    """The plays whose time can be real (what cursors may move to)."""
    latest = latest_allowed(now)
    return [play for play in plays if out_of_range(play.played_at, latest) is None]


async def land_plays(
    connection: AsyncConnection, user_id: UUID, plays: Sequence[PlayHistory], job_run_id: int | None
) -> LandingStats:
    stats = LandingStats(fetched=len(plays))
    rows: dict[tuple[object, str], dict[str, object]] = {}
    latest = latest_allowed()
    for play in plays:
        why = out_of_range(play.played_at, latest)
        if why is not None:
            stats.skipped_out_of_range += 1
            logger.warning("Spotify returned a play ending at %s, which %s; skipped", play.played_at.isoformat(), why)
            continue
        track = play.track
        if track is None or not track.id:
            stats.skipped_without_id += 1  # local files and podcast items without a Spotify id
            continue
        rows.setdefault(
            (play.played_at, track.id),
            {
                "user_id": user_id,
                "played_at": play.played_at,
                "track_id": track.id,
                "ms_played": None,
                "context_type": play.context.type if play.context else None,
                "context_uri": play.context.uri if play.context else None,
                "item": _payload(track),
                "job_run_id": job_run_id,
            },
        )
    stats.tracks, stats.artists = await land_catalog(connection, [play.track for play in plays if play.track])
    if rows:
        ordered = [rows[key] for key in sorted(rows, key=lambda key: (str(key[0]), key[1]))]
        statement = (
            insert(tables.api_plays)
            .values(ordered)
            .on_conflict_do_nothing(index_elements=["user_id", "played_at", "track_id"])
            .returning(tables.api_plays.c.id)
        )
        stats.inserted = len((await connection.execute(statement)).all())
    return stats
