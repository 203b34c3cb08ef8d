"""The tools' database reads. The figures shared with the dashboards (windows, totals, top lists, repeat,
heatmap, coverage, clusters, comparisons) are the queries of `core.marts`, executed here through SQLAlchemy with
bound parameters; what only the tools need (the user and freshness context, the audio profile, operations) is
written here. Reads the dbt marts (docs/warehouse-contract.md) and the operational `app` tables.

Nothing here reads `fct_plays` directly except the name fallbacks of `core.marts.rankings`: the daily and all-time
aggregates answer every figure with far fewer rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.marts import clusters as cluster_queries
from core.marts import compare, listening, rankings
from core.marts.listening import Coverage
from core.marts.sql import Query
from core.marts.windows import Bounds, Span


@dataclass(frozen=True, slots=True)
class UserRow:
    user_id: UUID
    timezone: str
    status: str


@dataclass(frozen=True, slots=True)
class Context:
    """What every answer needs before its own queries: the user, whether the marts exist, freshness."""

    user: UserRow | None
    has_marts: bool
    has_clusters: bool
    has_totals: bool
    last_transform_at: datetime | None


@dataclass(frozen=True, slots=True)
class Totals:
    plays: int
    listens: int
    ms_played: int


@dataclass(frozen=True, slots=True)
class TrackRow:
    track_id: str
    artist_id: str | None
    plays: int
    ms_played: int
    name: str | None
    artist_name: str | None


@dataclass(frozen=True, slots=True)
class ArtistRow:
    artist_id: str
    plays: int
    ms_played: int
    name: str | None


@dataclass(frozen=True, slots=True)
class WindowSummary:
    plays: int
    unique_tracks: int
    unique_artists: int
    tracks_played_once: int
    max_plays_single_track: int
    top10_plays: int
    top_tracks: list[TrackRow]
    top_artists: list[ArtistRow]
    top_albums: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RepeatRow:
    plays: int
    unique_tracks: int
    repeat_rate: float | None
    top10_share: float | None
    tracks_played_once: int
    max_plays_single_track: int


async def _rows(session: AsyncSession, query: Query) -> Sequence[RowMapping]:
    return (await session.execute(text(query.sql), dict(query.params))).mappings().all()


async def _one(session: AsyncSession, query: Query) -> RowMapping:
    return (await session.execute(text(query.sql), dict(query.params))).mappings().one()


async def fetch_all(session: AsyncSession, query: Query) -> list[dict[str, Any]]:
    """The rows of one of the shared figures' queries, as dicts."""
    return [dict(row) for row in await _rows(session, query)]


async def fetch_one(session: AsyncSession, query: Query) -> dict[str, Any] | None:
    """The first row of a query (None without rows)."""
    row = (await session.execute(text(query.sql), dict(query.params))).mappings().first()
    return None if row is None else dict(row)


def json_list(value: Any) -> list[dict[str, Any]]:
    """A `json_agg` column as a list of dicts (drivers hand it over as text or already decoded)."""
    return _json_list(value)


def _json_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        loaded: list[dict[str, Any]] = json.loads(value)
        return loaded
    return list(value)


def track_row(row: dict[str, Any]) -> TrackRow:
    """A row of `core.marts.rankings.TRACK_NAMES` (track_id, artist_id, plays, ms, name, artist_name)."""
    return _track(row)


def _track(row: dict[str, Any]) -> TrackRow:
    return TrackRow(
        track_id=row["track_id"],
        artist_id=row["artist_id"],
        plays=int(row["plays"]),
        ms_played=int(row["ms"]),
        name=row["name"],
        artist_name=row["artist_name"],
    )


def _artist(row: dict[str, Any]) -> ArtistRow:
    return ArtistRow(artist_id=row["artist_id"], plays=int(row["plays"]), ms_played=int(row["ms"]), name=row["name"])


async def context(session: AsyncSession, user_id: UUID) -> Context:
    row = (
        (
            await session.execute(
                text(
                    """
                    SELECT set_config('work_mem', '64MB', true) AS work_mem, u.id, u.timezone, u.status,
                           to_regclass('marts.agg_daily_listening') IS NOT NULL AS has_marts,
                           to_regclass('marts.fct_taste_clusters') IS NOT NULL AS has_clusters,
                           to_regclass('marts.agg_track_totals') IS NOT NULL AS has_totals,
                           (SELECT max(j.finished_at) FROM app.job_runs j
                            WHERE j.job_type = 'transform' AND j.status IN ('success', 'partial')) AS last_transform_at
                    FROM (SELECT 1) AS one
                    LEFT JOIN app.users u ON u.id = :u
                    """
                ),
                {"u": user_id},
            )
        )
        .mappings()
        .one()
    )
    user = UserRow(row["id"], row["timezone"], row["status"]) if row["id"] is not None else None
    return Context(
        user, bool(row["has_marts"]), bool(row["has_clusters"]), bool(row["has_totals"]), row["last_transform_at"]
    )


async def single_user_id(session: AsyncSession) -> UUID | None:
    rows: list[UUID] = list(
        (await session.execute(text("SELECT id FROM app.users ORDER BY created_at LIMIT 2"))).scalars().all()
    )
    return rows[0] if len(rows) == 1 else None


async def user_exists(session: AsyncSession, user_id: UUID) -> bool:
    found = await session.execute(text("SELECT 1 FROM app.users WHERE id = :u"), {"u": user_id})
    return found.first() is not None


async def bounds(session: AsyncSession, user_id: UUID) -> Bounds:
    row = await _one(session, listening.bounds(user_id))
    return Bounds(row["first_date"], row["last_date"], row["latest_play_at"])


async def totals(session: AsyncSession, user_id: UUID, span: Span) -> Totals:
    row = await _one(session, listening.totals(user_id, span))
    return Totals(int(row["plays"]), int(row["listens"]), int(row["ms_played"]))


async def window_summary(
    session: AsyncSession,
    user_id: UUID,
    span: Span,
    limit: int,
    *,
    all_time: bool = False,
    albums: bool = False,
    years: rankings.Years | None = None,
) -> WindowSummary:
    """Unique counts, repeat figures and the top tracks and artists (and with `albums` the top albums) of a window,
    aggregated once. `all_time`: the window covers all of the user's data, so the per-track totals come from the
    all-time mart; `years`: its whole calendar years come from the yearly mart."""
    query = rankings.window_summary(user_id, span, limit, all_time=all_time, albums=albums, years=years)
    return _summary(await _one(session, query), albums=albums)


async def stored_summary(session: AsyncSession, query: Query) -> WindowSummary | None:
    """A summary with albums precomputed by the transform (`core.marts.recap.stored_summary`); None without its
    row (a year without plays)."""
    row = (await session.execute(text(query.sql), dict(query.params))).mappings().first()
    return None if row is None else _summary(row, albums=True)


def _summary(row: RowMapping, *, albums: bool) -> WindowSummary:
    return WindowSummary(
        plays=int(row["plays"]),
        unique_tracks=int(row["unique_tracks"]),
        unique_artists=int(row["unique_artists"]),
        tracks_played_once=int(row["once"]),
        max_plays_single_track=int(row["maxp"]),
        top10_plays=int(row["top10"]),
        top_tracks=[_track(item) for item in _json_list(row["top_tracks"])],
        top_artists=[_artist(item) for item in _json_list(row["top_artists"])],
        top_albums=_json_list(row["top_albums"]) if albums else [],
    )


async def top_artists(
    session: AsyncSession, user_id: UUID, span: Span, limit: int, *, all_time: bool = False
) -> list[ArtistRow]:
    rows = await _rows(session, rankings.top_artists(user_id, span, limit, all_time=all_time))
    return [_artist(dict(item)) for item in rows]


async def top_tracks(
    session: AsyncSession, user_id: UUID, span: Span, limit: int, *, all_time: bool = False
) -> list[TrackRow]:
    rows = await _rows(session, rankings.top_tracks(user_id, span, limit, all_time=all_time))
    return [_track(dict(item)) for item in rows]


async def repeat_window(session: AsyncSession, user_id: UUID, span: Span, *, all_time: bool = False) -> RepeatRow:
    row = await _one(session, rankings.repeat_window(user_id, span, all_time=all_time))
    plays, unique = int(row["plays"]), int(row["unique_tracks"])
    return RepeatRow(
        plays=plays,
        unique_tracks=unique,
        repeat_rate=(1 - unique / plays) if plays else None,
        top10_share=(int(row["top10"]) / plays) if plays else None,
        tracks_played_once=int(row["once"]),
        max_plays_single_track=int(row["maxp"]),
    )


async def repeat_all_time(session: AsyncSession, user_id: UUID) -> RepeatRow | None:
    rows = await _rows(session, rankings.repeat_all_time(user_id))
    if not rows:
        return None
    row = rows[0]
    return RepeatRow(
        plays=int(row["plays"]),
        unique_tracks=int(row["unique_tracks"]),
        repeat_rate=None if row["repeat_rate"] is None else float(row["repeat_rate"]),
        top10_share=None if row["top10_share"] is None else float(row["top10_share"]),
        tracks_played_once=int(row["tracks_played_once"]),
        max_plays_single_track=int(row["max_plays_single_track"]),
    )


async def heatmap_cells(session: AsyncSession, user_id: UUID, span: Span | None) -> list[tuple[int, int, int]]:
    """(ISO weekday, hour, plays); all time from `fct_listening_heatmap` when `span` is None."""
    rows = await _rows(session, listening.heatmap_cells(user_id, span))
    return [(int(row["weekday"]), int(row["hour"]), int(row["plays"])) for row in rows]


async def coverage(session: AsyncSession, user_id: UUID, span: Span, history_starts: date | None) -> Coverage:
    """How complete the window is, summarized by the database (`listening.coverage_summary`)."""
    row = await _one(session, listening.coverage_summary(user_id, span))
    sources = [
        listening.SourceDays(source=str(item["source"]), days_with_data=int(item["days"]), listens=int(item["listens"]))
        for item in _json_list(row["sources"])
    ]
    gaps = [
        listening.Gap(
            start_date=date.fromisoformat(item["start_date"]),
            end_date=date.fromisoformat(item["end_date"]),
            days=int(item["days"]),
        )
        for item in _json_list(row["gaps"])
    ]
    return listening.coverage_figures(
        span, history_starts, int(row["days"]), row["first_date"], row["last_date"], sources, gaps
    )


async def audio_profile(
    session: AsyncSession, user_id: UUID, span: Span, *, all_time: bool = False
) -> dict[str, Any] | None:
    """Play-weighted means and per-track medians of the stored audio features; None when none are stored."""
    present: bool = (await session.execute(text("SELECT EXISTS (SELECT 1 FROM raw.audio_features)"))).scalar_one()
    if not present:
        return None
    sql = f"""
        WITH p AS MATERIALIZED ({rankings.track_totals(all_time)}),
        j AS (
            SELECT p.plays, f.energy, f.danceability, f.valence, f.tempo, f.track_id AS feature_track
            FROM p
            LEFT JOIN marts.dim_tracks dt ON dt.track_id = p.track_id
            LEFT JOIN raw.audio_features f ON f.track_id = coalesce(dt.resolved_track_id, p.track_id)
        )
        SELECT count(feature_track) AS tracks,
               coalesce(sum(plays) FILTER (WHERE feature_track IS NOT NULL), 0)::float
                   / nullif(sum(plays), 0) AS share,
               sum(energy * plays) / nullif(sum(plays) FILTER (WHERE energy IS NOT NULL), 0) AS avg_energy,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY energy) AS median_energy,
               sum(danceability * plays) / nullif(sum(plays) FILTER (WHERE danceability IS NOT NULL), 0)
                   AS avg_danceability,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY danceability) AS median_danceability,
               sum(valence * plays) / nullif(sum(plays) FILTER (WHERE valence IS NOT NULL), 0) AS avg_valence,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY valence) AS median_valence,
               sum(tempo * plays) / nullif(sum(plays) FILTER (WHERE tempo IS NOT NULL), 0) AS avg_tempo,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY tempo) AS median_tempo
        FROM j
    """
    row = await _one(session, Query(sql, {"u": user_id, "s": span.start_date, "e": span.end_date}))
    if not row["tracks"]:
        return None
    return dict(row)


async def clusters(session: AsyncSession, user_id: UUID, window_name: str) -> list[dict[str, Any]]:
    return [dict(row) for row in await _rows(session, cluster_queries.clusters(user_id, window_name))]


async def artist_plays(
    session: AsyncSession, user_id: UUID, span: Span, *, all_time: bool = False
) -> dict[str, tuple[int, int]]:
    """artist id -> (plays, ms_played) in a window."""
    rows = await _rows(session, compare.artist_plays(user_id, span, all_time=all_time))
    return {str(row["artist_id"]): (int(row["plays"]), int(row["ms"])) for row in rows}


async def artists_played_before(session: AsyncSession, user_id: UUID, artist_ids: list[str], before: date) -> set[str]:
    """Which of these artists have a counted play before the given local day."""
    if not artist_ids:
        return set()
    rows = await _rows(session, compare.played_before(user_id, artist_ids, before))
    return {row["artist_id"] for row in rows}


async def artist_names(session: AsyncSession, user_id: UUID, artist_ids: list[str]) -> dict[str, str | None]:
    if not artist_ids:
        return {}
    rows = await _rows(session, compare.artist_names(user_id, artist_ids))
    return {row["artist_id"]: row["name"] for row in rows}


# ----- operations -----------------------------------------------------------------------------------


async def sync_status(session: AsyncSession, user_id: UUID) -> dict[str, Any] | None:
    result = await session.execute(
        text(
            """
            SELECT u.id AS user_id, u.status AS user_status, c.status AS sync_status,
                   EXISTS (SELECT 1 FROM app.spotify_tokens t WHERE t.user_id = u.id) AS spotify_connected,
                   c.initial_sync_completed_at, c.last_poll_completed_at, c.last_poll_latest_played_at,
                   c.next_poll_at, c.poll_reason AS next_poll_reason, c.poll_interval_seconds, c.next_attempt_at,
                   c.last_poll_new_plays, coalesce(c.window_full_polls, 0) AS possibly_missed_polls,
                   coalesce(c.consecutive_errors, 0) AS consecutive_errors, c.error_message,
                   coalesce(p.polls, 0) AS polls_24h, p.new_plays_per_poll AS new_plays_per_poll_24h,
                   (SELECT max(j.finished_at) FROM app.job_runs j
                    WHERE j.job_type = 'transform' AND j.status IN ('success', 'partial')) AS last_transform_at
            FROM app.users u
            LEFT JOIN app.sync_checkpoints c ON c.user_id = u.id
            LEFT JOIN LATERAL (
                SELECT count(*) AS polls, round(avg((j.stats->>'inserted')::numeric), 1)::float AS new_plays_per_poll
                FROM app.job_runs j
                WHERE j.user_id = u.id AND j.job_type = 'poll' AND j.status = 'success'
                  AND j.started_at > now() - interval '24 hours'
            ) p ON true
            WHERE u.id = :u
            """
        ),
        {"u": user_id},
    )
    row = result.mappings().first()
    return None if row is None else dict(row)


async def job_runs(session: AsyncSession, user_id: UUID, limit: int) -> list[dict[str, Any]]:
    result = await session.execute(
        text(
            """
            SELECT id, job_type, status, started_at, finished_at, stats, error_message,
                   user_id IS NULL AS instance_wide
            FROM app.job_runs
            WHERE user_id = :u OR (user_id IS NULL AND job_type = 'transform')
            ORDER BY started_at DESC, id DESC
            LIMIT :limit
            """
        ),
        {"u": user_id, "limit": limit},
    )
    return [dict(row) for row in result.mappings()]


async def import_jobs(session: AsyncSession, user_id: UUID, limit: int) -> list[dict[str, Any]]:
    result = await session.execute(
        text(
            """
            SELECT id, status, original_filename, uploaded_at, started_at, finished_at, format_detected,
                   records_ingested, records_total, earliest_played_at, latest_played_at, error_message
            FROM app.import_jobs
            WHERE user_id = :u
            ORDER BY uploaded_at DESC, id DESC
            LIMIT :limit
            """
        ),
        {"u": user_id, "limit": limit},
    )
    return [dict(row) for row in result.mappings()]
