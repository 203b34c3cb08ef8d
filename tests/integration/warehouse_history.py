"""Listening histories delivered the ways real ones arrive, for the warehouse's correctness tests (issue 15).

A `Listen` is one real listen (end of playback to the second, the track, how long). It reaches the database as
an extended-history record (a ZIP through the real import job), an account-data record (`endTime` truncated to
the minute, names only; through the same import), an API play (landed by the collector's `land_plays`, which
also lands the track, its length and its artists) and/or a scrobble (issue 21: a ListenBrainz listen with the
Spotify id and the track's length, or a Last.fm scrobble with names only, through the same import job), which
says when the listen STARTED: its end minus how long it played. The resolver (ingest.resolve) settles name-only
tracks against the catalogue without searching. The marts are read back whole, without the columns that only say
when rows arrived (`ingested_at`, `transformed_at`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.dburl import libpq_url
from core.settings import Settings
from core.spotify.client import SpotifyClient
from core.spotify.models import PlayHistory
from ingest.imports import jobs
from ingest.imports.worker import execute_job
from ingest.landing import land_catalog, land_plays
from ingest.resolve import ResolutionStats, resolve_local_tracks
from serve.user_deletion import delete_user as delete_user_rows
from tests.fixtures.exports import account_music, build_zip, extended
from tests.fixtures.exports import scrobbles as scrobble_files
from transform.runner import run_transform


@dataclass(frozen=True, slots=True)
class Song:
    track_id: str
    name: str
    artist_id: str
    artist: str
    album: str
    duration_ms: int = 300_000


@dataclass(frozen=True, slots=True)
class Listen:
    user_id: uuid.UUID
    ended: datetime  # UTC, whole seconds (what the extended export says)
    song: Song
    ms_played: int


def extended_record(listen: Listen) -> dict[str, Any]:
    song = listen.song
    return extended(
        listen.ended.strftime("%Y-%m-%dT%H:%M:%SZ"),
        listen.ms_played,
        track=song.name,
        artist=song.artist,
        album=song.album,
        uri=f"spotify:track:{song.track_id}",
    )


def account_record(listen: Listen, ms_offset: int = 0) -> dict[str, Any]:
    """The account-data record of the listen: end time truncated to the minute, no ids."""
    return account_music(
        listen.ended.strftime("%Y-%m-%d %H:%M"),
        listen.ms_played + ms_offset,
        artist=listen.song.artist,
        track=listen.song.name,
    )


def api_play(listen: Listen, offset_ms: int = 0) -> PlayHistory:
    """The recently-played item of the listen; `offset_ms` is how far the API's end time is from the export's."""
    song = listen.song
    return PlayHistory.model_validate(
        {
            "played_at": (listen.ended + timedelta(milliseconds=offset_ms)).isoformat(),
            "track": {
                "id": song.track_id,
                "name": song.name,
                "type": "track",
                "uri": f"spotify:track:{song.track_id}",
                "album": {"id": f"al{song.track_id}", "name": song.album},
                "duration_ms": song.duration_ms,
                "artists": [{"id": song.artist_id, "name": song.artist, "type": "artist"}],
            },
        }
    )


def scrobble_start(listen: Listen) -> int:
    """When the listen started, epoch seconds, as a scrobbler records it: its end minus how long it played."""
    return int((listen.ended - timedelta(milliseconds=listen.ms_played)).timestamp())


def listenbrainz_listen(listen: Listen, offset_s: int = 0) -> dict[str, Any]:
    """The ListenBrainz listen of the listen: start time, names, the Spotify id and the track's length."""
    song = listen.song
    return scrobble_files.listen(
        scrobble_start(listen) + offset_s,
        artist=song.artist,
        track=song.name,
        release=song.album,
        spotify_id=song.track_id,
        duration_ms=song.duration_ms,
    )


def lastfm_scrobble(listen: Listen, offset_s: int = 0) -> tuple[int, str, str, str]:
    """The Last.fm scrobble of the listen (a row of the export tool's CSV): start time and names only."""
    song = listen.song
    return (scrobble_start(listen) + offset_s, song.artist, song.album, song.name)


async def import_scrobbles(
    engine: AsyncEngine,
    settings: Settings,
    user_id: uuid.UUID,
    directory: Path,
    *,
    listenbrainz: Sequence[dict[str, Any]] = (),
    lastfm: Sequence[tuple[int, str, str, str]] = (),
    lastfm_first: bool = False,
) -> list[str]:
    """Import a ListenBrainz export ZIP and / or a Last.fm CSV through the real import job (the Last.fm one first
    when `lastfm_first`); their statuses."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    statuses: list[str] = []
    if lastfm and lastfm_first:
        path = directory / f"scrobbles-someone-{uuid.uuid4().hex[:8]}.csv"
        await asyncio.to_thread(path.write_text, scrobble_files.lastfm_csv(list(lastfm)))
        statuses.append(await _import_path(engine, settings, user_id, path))
    if listenbrainz:
        months: dict[str, list[dict[str, Any]] | str] = {}
        for record in listenbrainz:
            started = datetime.fromtimestamp(record["listened_at"], UTC)
            month = months.setdefault(f"{started.year}/{started.month}", [])
            assert isinstance(month, list)
            month.append(record)
        path = directory / f"listenbrainz_someone_{uuid.uuid4().hex[:8]}.zip"
        await asyncio.to_thread(scrobble_files.listenbrainz_zip, path, months)
        statuses.append(await _import_path(engine, settings, user_id, path))
    if lastfm and not lastfm_first:
        path = directory / f"scrobbles-someone-{uuid.uuid4().hex[:8]}.csv"
        await asyncio.to_thread(path.write_text, scrobble_files.lastfm_csv(list(lastfm)))
        statuses.append(await _import_path(engine, settings, user_id, path))
    return statuses


def _write_zip(directory: Path, members: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return build_zip(directory / f"my_spotify_data_{uuid.uuid4().hex[:8]}.zip", members)


async def import_zip(
    engine: AsyncEngine,
    settings: Settings,
    user_id: uuid.UUID,
    directory: Path,
    *,
    extended_records: Sequence[dict[str, Any]] = (),
    account_records: Sequence[dict[str, Any]] = (),
) -> str:
    """Import one export ZIP through the real import job; returns the job's status."""
    members: dict[str, Any] = {}
    if extended_records:
        members["Spotify Extended Streaming History/Streaming_History_Audio_2026_0.json"] = list(extended_records)
    if account_records:
        members["Spotify Account Data/StreamingHistory_music_0.json"] = list(account_records)
    path = await asyncio.to_thread(_write_zip, directory, members)
    return await _import_path(engine, settings, user_id, path)


async def _import_path(engine: AsyncEngine, settings: Settings, user_id: uuid.UUID, path: Path) -> str:
    """Run one import job of `path` for the user through the real worker; returns the job's status."""
    async with engine.begin() as connection:
        job_id = await jobs.create_job(
            connection,
            user_id=user_id,
            storage_path=path,
            original_filename=path.name,
            origin="cli",
            file_size_bytes=await asyncio.to_thread(lambda: path.stat().st_size),
            file_sha256=None,
        )
    claimed = await jobs.claim_job(engine, worker_id="warehouse-tests", only_id=job_id)
    assert claimed is not None
    outcome = await execute_job(engine, settings, claimed)
    return outcome.status


async def land_api_plays(engine: AsyncEngine, user_id: uuid.UUID, plays: Sequence[PlayHistory]) -> None:
    async with engine.begin() as connection:
        await land_plays(connection, user_id, plays, None)


async def land_in_catalogue(engine: AsyncEngine, songs: Sequence[Song]) -> None:
    """Spotify's metadata of the songs (raw.tracks, raw.track_artists), as a search or any user's poll fetched it:
    shared, not a user's listen."""
    now = at("2026-01-01 00:00:00")
    async with engine.begin() as connection:
        plays = [api_play(Listen(uuid.UUID(int=0), now, song, 0)) for song in songs]
        await land_catalog(connection, [play.track for play in plays if play.track is not None])


class _NoTokens:
    """The resolver settles names from the catalogue here: asking Spotify for a token is a test failure."""

    async def access_token(self) -> str:
        raise AssertionError("no Spotify request expected")

    async def refreshed_access_token(self) -> str:
        raise AssertionError("no Spotify request expected")


async def resolve_from_catalogue(engine: AsyncEngine) -> ResolutionStats:
    """One resolver cycle without searches (ingest.resolve): the `local:` tracks whose name a track already
    fetched matches are settled (raw.track_resolutions); the rest stay pending."""
    stats = ResolutionStats()
    async with httpx.AsyncClient() as http:
        await resolve_local_tracks(engine, SpotifyClient(http, _NoTokens()), 0, stats)
    return stats


def execute(database_url: str, sql: str, params: dict[str, Any] | None = None) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(sql, params)


def rows(database_url: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(database_url)) as connection:
        return list(connection.execute(sql, params).fetchall())


def create_users(database_url: str, zones: dict[uuid.UUID, str]) -> None:
    for user_id, zone in zones.items():
        execute(
            database_url,
            "insert into app.users (id, display_name, timezone) values (%(id)s, %(name)s, %(zone)s)",
            {"id": user_id, "name": f"user {str(user_id)[-4:]}", "zone": zone},
        )


async def delete_user(engine: AsyncEngine, user_id: uuid.UUID, upload_dir: Path) -> None:
    """Delete the user as DELETE /admin/users/{id} does (serve.user_deletion), committed."""
    async with AsyncSession(engine) as session, session.begin():
        assert await delete_user_rows(session, user_id, upload_dir=upload_dir) is not None


async def transform(database_url: str, *, full_refresh: bool = False) -> None:
    outcome = await asyncio.to_thread(run_transform, database_url, full_refresh=full_refresh)
    assert outcome.status == "success", outcome.error


# Every mart, every column but those that say when rows arrived or were built.
MARTS = {
    "fct_plays": "select play_id, user_id, played_at, track_id, content_kind, ms_played, counts_as_play, source, "
    "ms_played_estimated, scrobble_sources, context_type, context_uri, track_name, album_name, primary_artist_id, "
    "primary_artist_name, local_date, local_hour, local_weekday, skipped from marts.fct_plays order by play_id",
    "agg_daily_listening": "select user_id, local_date, content_kind, plays, listens, ms_played, unique_tracks, "
    "unique_artists from marts.agg_daily_listening order by 1, 2, 3",
    "agg_daily_track_plays": "select user_id, local_date, track_id, primary_artist_id, plays, listens, ms_played "
    "from marts.agg_daily_track_plays order by 1, 2, 3",
    "agg_track_totals": "select user_id, track_id, primary_artist_id, single_primary_artist, plays, listens, "
    "ms_played, first_local_date, last_local_date from marts.agg_track_totals order by 1, 2",
    "agg_hourly_listening": "select user_id, local_date, local_weekday, local_hour, plays, ms_played "
    "from marts.agg_hourly_listening order by 1, 2, 4",
    "fct_listening_heatmap": "select user_id, local_weekday, local_hour, plays, ms_played "
    "from marts.fct_listening_heatmap order by 1, 2, 3",
    "fct_repeat_stats": "select * from marts.fct_repeat_stats order by 1",
    "fct_coverage_daily": "select user_id, local_date, source, listens, first_played_at, last_played_at "
    "from marts.fct_coverage_daily order by 1, 2, 3",
    "dim_tracks": "select * from marts.dim_tracks order by track_id",
    "dim_artists": "select * from marts.dim_artists order by artist_id",
    "bridge_track_artists": "select * from marts.bridge_track_artists order by 1, 2",
    "dim_users": "select * from marts.dim_users order by 1",
    # The story marts (issue 18), incremental per user / per month.
    "agg_monthly_artist_plays": "select user_id, month_start, artist_id, plays, ms_played, rank, artists "
    "from marts.agg_monthly_artist_plays order by 1, 2, 3",
    "agg_monthly_track_plays": "select user_id, month_start, track_id, artist_id, plays, ms_played, rank, tracks "
    "from marts.agg_monthly_track_plays order by 1, 2, 3",
    "agg_yearly_track_plays": "select user_id, year_start, track_id, primary_artist_id, plays, listens, ms_played "
    "from marts.agg_yearly_track_plays order by 1, 2, 3, 4",
    "agg_yearly_recap": "select user_id, year_start, plays, unique_tracks, unique_artists, tracks_played_once, "
    "max_plays_single_track, top10_plays, top_tracks::text, top_artists::text, top_albums::text "
    "from marts.agg_yearly_recap order by 1, 2",
    "agg_first_plays": "select user_id, subject_kind, subject_id, artist_id, first_date, last_date, plays, "
    "ms_played, days_played, first_week_plays, first_listen_date, last_listen_date from marts.agg_first_plays "
    "order by 1, 2, 3",
    "fct_listening_streaks": "select user_id, subject_kind, subject_id, start_date, end_date, days "
    "from marts.fct_listening_streaks order by 1, 2, 3, 4",
    "fct_listening_sessions": "select user_id, started_at, ended_at, minutes, local_date, local_weekday, "
    "local_hour, plays, listens, ms_played, tracks from marts.fct_listening_sessions order by 1, 2",
}


def marts(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {name: rows(database_url, sql) for name, sql in MARTS.items()}


def differences(left: dict[str, list[tuple[Any, ...]]], right: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    """Per mart that differs: the rows only on the left and only on the right (readable failures)."""
    found: dict[str, Any] = {}
    for name in MARTS:
        only_left = [row for row in left[name] if row not in right[name]]
        only_right = [row for row in right[name] if row not in left[name]]
        if only_left or only_right or len(left[name]) != len(right[name]):
            found[name] = {"only_left": only_left[:5], "only_right": only_right[:5]}
    return found


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
