"""Listening sessions: a listen that starts more than a gap after the previous one ended starts a new session.
The default gap's sessions are a mart (`fct_listening_sessions`); another gap is computed from the plays of the
window (bounded: `LIVE_MAX_DAYS`)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from core.marts.sql import Query

DEFAULT_GAP_MINUTES = 30
LIVE_MAX_DAYS = 92

# The sessions of a window at any gap, from fct_plays (as the mart builds them with its gap).
_LIVE = """
    WITH listens AS (
        SELECT played_at, track_id, ms_played, counts_as_play, local_date, local_weekday, local_hour,
               played_at - make_interval(secs => coalesce(ms_played, 0) / 1000.0) AS started_at
        FROM marts.fct_plays
        WHERE user_id = :u AND content_kind = 'track'
          AND played_at >= CAST(CAST(:t0 AS text) AS timestamptz) AND played_at < CAST(CAST(:t1 AS text) AS timestamptz)
    ),
    marked AS (
        SELECT *, CASE WHEN lag(played_at) OVER w IS NULL
                         OR started_at - lag(played_at) OVER w > make_interval(mins => :gap) THEN 1 ELSE 0 END AS starts
        FROM listens WINDOW w AS (ORDER BY played_at, track_id)
    ),
    numbered AS (SELECT *, sum(starts) OVER (ORDER BY played_at, track_id) AS n FROM marked)
    SELECT min(started_at) AS started_at, max(played_at) AS ended_at,
           round(extract(epoch FROM max(played_at) - min(started_at)) / 60.0, 1)::numeric(10, 1) AS minutes,
           (array_agg(local_date ORDER BY played_at, track_id))[1] AS local_date,
           (array_agg(local_weekday ORDER BY played_at, track_id))[1] AS local_weekday,
           (array_agg(local_hour ORDER BY played_at, track_id))[1] AS local_hour,
           (count(*) FILTER (WHERE counts_as_play))::int AS plays, count(*)::int AS listens,
           coalesce(sum(ms_played), 0)::bigint AS ms_played, count(DISTINCT track_id)::int AS tracks
    FROM numbered GROUP BY n
"""
_MART = """
    SELECT started_at, ended_at, minutes, local_date, local_weekday, local_hour, plays, listens, ms_played, tracks
    FROM marts.fct_listening_sessions
    WHERE user_id = :u AND local_date BETWEEN :s AND :e
"""


def _source(gap_minutes: int) -> str:
    return _MART if gap_minutes == DEFAULT_GAP_MINUTES else _LIVE


def summary(
    user_id: UUID, start_date: date, end_date: date, instants: tuple[str, str], gap_minutes: int, limit: int
) -> Query:
    """One row: sessions, minutes (sum), median_minutes, avg_minutes, longest (json list of the `limit` longest
    sessions), by_weekday and by_hour (json lists: sessions and median minutes per local weekday / hour of their
    start). The window is its local days (the mart) and the same as ISO instants (computed sessions)."""
    return Query(
        f"""
        WITH s AS MATERIALIZED ({_source(gap_minutes)})
        SELECT (SELECT count(*) FROM s) AS sessions,
               (SELECT coalesce(sum(minutes), 0) FROM s)::float AS minutes,
               (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes) FROM s) AS median_minutes,
               (SELECT avg(minutes) FROM s)::float AS avg_minutes,
               (SELECT json_agg(l ORDER BY l.minutes DESC, l.started_at DESC) FROM (
                    SELECT * FROM s ORDER BY minutes DESC, started_at DESC LIMIT :limit) l) AS longest,
               (SELECT json_agg(w ORDER BY w.weekday) FROM (
                    SELECT local_weekday AS weekday, count(*) AS sessions,
                           percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes) AS median_minutes
                    FROM s GROUP BY local_weekday) w) AS by_weekday,
               (SELECT json_agg(h ORDER BY h.hour) FROM (
                    SELECT local_hour AS hour, count(*) AS sessions,
                           percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes) AS median_minutes
                    FROM s GROUP BY local_hour) h) AS by_hour
        """,
        {
            "u": user_id,
            "s": start_date,
            "e": end_date,
            "t0": instants[0],
            "t1": instants[1],
            "gap": gap_minutes,
            "limit": limit,
        },
    )
