"""All SQL of the tools. Reads the dbt marts (docs/warehouse-contract.md) and the operational `app` tables.

Window queries use the daily aggregates (`agg_daily_*`, `agg_hourly_listening`) so that a 90-day answer reads a
few thousand rows; all-time answers (`all_time=True`: the window covers every day of the user's data) read the
all-time marts instead (`agg_track_totals`, `fct_repeat_stats`, `fct_listening_heatmap`): one row per track, not
one per day, with the same answer. Names come from the dimensions,
falling back to the names denormalised on `fct_plays` only for ids missing from the dimensions. Nothing else
reads `fct_plays`: the dbt build makes it a view over the deduplicated listens, without the contract's
indexes, so a lookup there scans every listen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


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
class Bounds:
    first_date: date | None
    last_date: date | None
    latest_play_at: datetime | None


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


@dataclass(frozen=True, slots=True)
class RepeatRow:
    plays: int
    unique_tracks: int
    repeat_rate: float | None
    top10_share: float | None
    tracks_played_once: int
    max_plays_single_track: int


TRACK_NAMES = """
    SELECT x.track_id, x.artist_id, x.plays, x.ms,
           coalesce(dt.name, CASE WHEN dt.track_id IS NULL THEN
                    (SELECT f.track_name FROM marts.fct_plays f
                     WHERE f.user_id = :u AND f.track_id = x.track_id AND f.track_name IS NOT NULL
                     LIMIT 1) END) AS name,
           coalesce(da.name, dt.primary_artist_name, CASE WHEN dt.track_id IS NULL AND da.artist_id IS NULL THEN
                    (SELECT f.primary_artist_name FROM marts.fct_plays f
                     WHERE f.user_id = :u AND f.track_id = x.track_id AND f.primary_artist_name IS NOT NULL
                     LIMIT 1) END) AS artist_name
    FROM {source} x
    LEFT JOIN marts.dim_tracks dt ON dt.track_id = x.track_id
    LEFT JOIN marts.dim_artists da ON da.artist_id = x.artist_id
"""

ARTIST_NAMES = """
    SELECT x.artist_id, x.plays, x.ms,
           coalesce(da.name, CASE WHEN da.artist_id IS NULL THEN
                    (SELECT f.primary_artist_name FROM marts.fct_plays f
                     WHERE f.user_id = :u AND f.primary_artist_id = x.artist_id
                       AND f.primary_artist_name IS NOT NULL
                     LIMIT 1) END) AS name
    FROM {source} x
    LEFT JOIN marts.dim_artists da ON da.artist_id = x.artist_id
"""

# Per-track totals of a window, tracks that count at least one play (the largest primary artist of the window's
# days, as agg_track_totals keeps it for all time).
WINDOW_TRACKS = """
    SELECT track_id, max(primary_artist_id) AS artist_id, sum(plays)::bigint AS plays, sum(ms_played)::bigint AS ms
    FROM marts.agg_daily_track_plays
    WHERE user_id = :u AND local_date BETWEEN :s AND :e
    GROUP BY track_id
    HAVING sum(plays) > 0
"""
ALL_TIME_TRACKS = """
    SELECT track_id, primary_artist_id AS artist_id, plays, ms_played AS ms
    FROM marts.agg_track_totals
    WHERE user_id = :u AND plays > 0
"""

# Per-artist totals of a window by each day's primary artist, artists with at least one play.
WINDOW_ARTISTS = """
    SELECT primary_artist_id AS artist_id, sum(plays)::bigint AS plays, sum(ms_played)::bigint AS ms
    FROM marts.agg_daily_track_plays
    WHERE user_id = :u AND local_date BETWEEN :s AND :e AND primary_artist_id IS NOT NULL
    GROUP BY primary_artist_id
    HAVING sum(plays) > 0
"""
# The same for all time: a track's totals are its primary artist's when every day of it has that one artist; the
# per-day rows of the other tracks (few: an API play and an export record that named the artist differently) are
# read one track at a time (OFFSET 0 keeps the planner from turning it into a join over every per-day row).
ALL_TIME_ARTISTS = """
    SELECT artist_id, sum(plays)::bigint AS plays, sum(ms)::bigint AS ms
    FROM (
        SELECT primary_artist_id AS artist_id, plays, ms_played AS ms
        FROM marts.agg_track_totals
        WHERE user_id = :u AND single_primary_artist
        UNION ALL
        SELECT d.primary_artist_id, d.plays, d.ms_played
        FROM marts.agg_track_totals t
        CROSS JOIN LATERAL (
            SELECT primary_artist_id, plays, ms_played FROM marts.agg_daily_track_plays
            WHERE user_id = t.user_id AND track_id = t.track_id OFFSET 0
        ) d
        WHERE t.user_id = :u AND NOT t.single_primary_artist
    ) x
    WHERE artist_id IS NOT NULL
    GROUP BY artist_id
    HAVING sum(plays) > 0
"""


def _tracks(all_time: bool) -> str:
    return ALL_TIME_TRACKS if all_time else WINDOW_TRACKS


def _artists(all_time: bool) -> str:
    return ALL_TIME_ARTISTS if all_time else WINDOW_ARTISTS


def _json_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        loaded: list[dict[str, Any]] = json.loads(value)
        return loaded
    return list(value)


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
                            WHERE j.job_type = 'transform' AND j.status = 'success') AS last_transform_at
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
    row = (
        (
            await session.execute(
                text(
                    """
                    SELECT (SELECT min(local_date) FROM marts.agg_daily_listening WHERE user_id = :u) AS first_date,
                           (SELECT max(local_date) FROM marts.agg_daily_listening WHERE user_id = :u) AS last_date,
                           (SELECT max(c.last_played_at) FROM marts.fct_coverage_daily c
                            WHERE c.user_id = :u
                              AND c.local_date = (SELECT max(local_date) FROM marts.fct_coverage_daily
                                                  WHERE user_id = :u)) AS latest_play_at
                    """
                ),
                {"u": user_id},
            )
        )
        .mappings()
        .one()
    )
    return Bounds(row["first_date"], row["last_date"], row["latest_play_at"])


async def totals(session: AsyncSession, user_id: UUID, start: date, end: date) -> Totals:
    row = (
        await session.execute(
            text(
                """
                SELECT coalesce(sum(plays), 0)::bigint, coalesce(sum(listens), 0)::bigint,
                       coalesce(sum(ms_played), 0)::bigint
                FROM marts.agg_daily_listening
                WHERE user_id = :u AND content_kind = 'track' AND local_date BETWEEN :s AND :e
                """
            ),
            {"u": user_id, "s": start, "e": end},
        )
    ).one()
    return Totals(int(row[0]), int(row[1]), int(row[2]))


async def window_summary(
    session: AsyncSession, user_id: UUID, start: date, end: date, limit: int, *, all_time: bool = False
) -> WindowSummary:
    """Unique counts, repeat figures and the top tracks and artists of a window, aggregated once. `all_time`: the
    window covers all of the user's data, so the per-track totals come from the all-time mart."""
    sql = f"""
        WITH p AS MATERIALIZED ({_tracks(all_time)}),
        a AS MATERIALIZED (
            SELECT artist_id, sum(plays)::bigint AS plays, sum(ms)::bigint AS ms
            FROM p WHERE artist_id IS NOT NULL GROUP BY artist_id
        ),
        s AS (
            SELECT coalesce(sum(plays), 0)::bigint AS plays, count(*) AS unique_tracks,
                   count(*) FILTER (WHERE plays = 1) AS once, coalesce(max(plays), 0)::bigint AS maxp
            FROM p
        ),
        tt AS (SELECT * FROM p ORDER BY plays DESC, ms DESC, track_id LIMIT :limit),
        ta AS (SELECT * FROM a ORDER BY plays DESC, ms DESC, artist_id LIMIT :limit)
        SELECT
            s.plays, s.unique_tracks,
            (SELECT count(*) FROM a) AS unique_artists,
            s.once, s.maxp,
            (SELECT coalesce(sum(plays), 0)
             FROM (SELECT plays FROM p ORDER BY plays DESC LIMIT 10) t10)::bigint AS top10,
            (SELECT json_agg(n ORDER BY n.plays DESC, n.ms DESC, n.track_id)
             FROM ({TRACK_NAMES.format(source="tt")}) n) AS top_tracks,
            (SELECT json_agg(n ORDER BY n.plays DESC, n.ms DESC, n.artist_id)
             FROM ({ARTIST_NAMES.format(source="ta")}) n) AS top_artists
        FROM s
    """
    row = (await session.execute(text(sql), {"u": user_id, "s": start, "e": end, "limit": limit})).mappings().one()
    return WindowSummary(
        plays=int(row["plays"]),
        unique_tracks=int(row["unique_tracks"]),
        unique_artists=int(row["unique_artists"]),
        tracks_played_once=int(row["once"]),
        max_plays_single_track=int(row["maxp"]),
        top10_plays=int(row["top10"]),
        top_tracks=[_track(item) for item in _json_list(row["top_tracks"])],
        top_artists=[_artist(item) for item in _json_list(row["top_artists"])],
    )


async def top_artists(
    session: AsyncSession, user_id: UUID, start: date, end: date, limit: int, *, all_time: bool = False
) -> list[ArtistRow]:
    source = f"({_artists(all_time)} ORDER BY plays DESC, ms DESC, artist_id LIMIT :limit)"
    sql = ARTIST_NAMES.format(source=source) + " ORDER BY x.plays DESC, x.ms DESC, x.artist_id"
    result = await session.execute(text(sql), {"u": user_id, "s": start, "e": end, "limit": limit})
    return [_artist(dict(item)) for item in result.mappings()]


async def top_tracks(
    session: AsyncSession, user_id: UUID, start: date, end: date, limit: int, *, all_time: bool = False
) -> list[TrackRow]:
    source = f"({_tracks(all_time)} ORDER BY plays DESC, ms DESC, track_id LIMIT :limit)"
    sql = TRACK_NAMES.format(source=source) + " ORDER BY x.plays DESC, x.ms DESC, x.track_id"
    result = await session.execute(text(sql), {"u": user_id, "s": start, "e": end, "limit": limit})
    return [_track(dict(item)) for item in result.mappings()]


async def repeat_window(
    session: AsyncSession, user_id: UUID, start: date, end: date, *, all_time: bool = False
) -> RepeatRow:
    sql = f"""
        WITH p AS MATERIALIZED ({_tracks(all_time)})
        SELECT coalesce(sum(plays), 0)::bigint, count(*), count(*) FILTER (WHERE plays = 1),
               coalesce(max(plays), 0)::bigint,
               (SELECT coalesce(sum(plays), 0) FROM (SELECT plays FROM p ORDER BY plays DESC LIMIT 10) t)::bigint
        FROM p
    """
    row = (await session.execute(text(sql), {"u": user_id, "s": start, "e": end})).one()
    plays, unique, once, maxp, top10 = (int(value) for value in row)
    return RepeatRow(
        plays=plays,
        unique_tracks=unique,
        repeat_rate=(1 - unique / plays) if plays else None,
        top10_share=(top10 / plays) if plays else None,
        tracks_played_once=once,
        max_plays_single_track=maxp,
    )


async def repeat_all_time(session: AsyncSession, user_id: UUID) -> RepeatRow | None:
    row = (
        await session.execute(
            text(
                """
                SELECT plays, unique_tracks, repeat_rate, top10_share, tracks_played_once, max_plays_single_track
                FROM marts.fct_repeat_stats WHERE user_id = :u
                """
            ),
            {"u": user_id},
        )
    ).first()
    if row is None:
        return None
    return RepeatRow(
        plays=int(row[0]),
        unique_tracks=int(row[1]),
        repeat_rate=None if row[2] is None else float(row[2]),
        top10_share=None if row[3] is None else float(row[3]),
        tracks_played_once=int(row[4]),
        max_plays_single_track=int(row[5]),
    )


async def heatmap_cells(
    session: AsyncSession, user_id: UUID, start: date | None, end: date | None
) -> list[tuple[int, int, int]]:
    """(ISO weekday, hour, plays); all time from `fct_listening_heatmap` when no dates are given."""
    if start is None or end is None:
        sql = "SELECT local_weekday, local_hour, plays FROM marts.fct_listening_heatmap WHERE user_id = :u"
        params: dict[str, Any] = {"u": user_id}
    else:
        sql = """
            SELECT local_weekday, local_hour, sum(plays)::bigint
            FROM marts.agg_hourly_listening
            WHERE user_id = :u AND local_date BETWEEN :s AND :e
            GROUP BY local_weekday, local_hour
        """
        params = {"u": user_id, "s": start, "e": end}
    rows: list[Any] = list(await session.execute(text(sql), params))
    return [(int(row[0]), int(row[1]), int(row[2])) for row in rows]


async def coverage_days(session: AsyncSession, user_id: UUID, start: date, end: date) -> list[tuple[date, str, int]]:
    result = await session.execute(
        text(
            """
            SELECT local_date, source, listens FROM marts.fct_coverage_daily
            WHERE user_id = :u AND local_date BETWEEN :s AND :e
            """
        ),
        {"u": user_id, "s": start, "e": end},
    )
    rows: list[Any] = list(result)
    return [(row[0], str(row[1]), int(row[2])) for row in rows]


async def audio_profile(
    session: AsyncSession, user_id: UUID, start: date, end: date, *, all_time: bool = False
) -> dict[str, Any] | None:
    """Play-weighted means and per-track medians of the stored audio features; None when none are stored."""
    present: bool = (await session.execute(text("SELECT EXISTS (SELECT 1 FROM raw.audio_features)"))).scalar_one()
    if not present:
        return None
    sql = f"""
        WITH p AS MATERIALIZED ({_tracks(all_time)}),
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
    row = (await session.execute(text(sql), {"u": user_id, "s": start, "e": end})).mappings().one()
    if not row["tracks"]:
        return None
    return dict(row)


async def clusters(session: AsyncSession, user_id: UUID, window_name: str) -> list[dict[str, Any]]:
    result = await session.execute(
        text(
            """
            SELECT window_name, window_start, window_end, cluster_id, label, share_of_plays, plays, top_artists,
                   top_tracks, distinguishing, feature_set, k, quality_score, computed_at
            FROM marts.fct_taste_clusters
            WHERE user_id = :u AND window_name = :w
            ORDER BY cluster_id
            """
        ),
        {"u": user_id, "w": window_name},
    )
    return [dict(row) for row in result.mappings()]


async def artist_plays(
    session: AsyncSession, user_id: UUID, start: date, end: date, *, all_time: bool = False
) -> dict[str, tuple[int, int]]:
    """artist id -> (plays, ms_played) in a window."""
    result = await session.execute(text(_artists(all_time)), {"u": user_id, "s": start, "e": end})
    rows: list[Any] = list(result)
    return {str(row[0]): (int(row[1]), int(row[2])) for row in rows}


async def artists_played_before(session: AsyncSession, user_id: UUID, artist_ids: list[str], before: date) -> set[str]:
    """Which of these artists have a counted play before the given local day (dbt indexes the aggregate by
    `(user_id, primary_artist_id)`)."""
    if not artist_ids:
        return set()
    result = await session.execute(
        text(
            """
            SELECT a.artist_id FROM unnest(CAST(:ids AS text[])) AS a(artist_id)
            WHERE EXISTS (SELECT 1 FROM marts.agg_daily_track_plays t
                          WHERE t.user_id = :u AND t.primary_artist_id = a.artist_id
                            AND t.local_date < :before AND t.plays > 0)
            """
        ),
        {"u": user_id, "ids": artist_ids, "before": before},
    )
    return {row[0] for row in result}


async def artist_names(session: AsyncSession, user_id: UUID, artist_ids: list[str]) -> dict[str, str | None]:
    if not artist_ids:
        return {}
    source = "(SELECT a.artist_id, 0 AS plays, 0 AS ms FROM unnest(CAST(:ids AS text[])) AS a(artist_id))"
    result = await session.execute(text(ARTIST_NAMES.format(source=source)), {"u": user_id, "ids": artist_ids})
    return {row["artist_id"]: row["name"] for row in result.mappings()}


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
                    WHERE j.job_type = 'transform' AND j.status = 'success') AS last_transform_at
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
