"""One artist of one user: finding them by name, their totals and rank in a window, first and last play, plays
over time and their top tracks. An artist's plays are those of the days on which they are a track's primary
artist — the per-artist totals `rankings.top_artists` ranks, so the numbers agree with it."""

from __future__ import annotations

from uuid import UUID

from core.marts.listening import BUCKETS
from core.marts.rankings import ARTIST_NAMES, TRACK_NAMES, artist_totals
from core.marts.sql import Query
from core.marts.windows import Grain, Span


def search(user_id: UUID, text: str, all_time_span: Span, limit: int, *, all_time: bool) -> Query:
    """artist_id, name, plays, ms of the user's artists (all time, with a play) whose name contains `text`
    (case-insensitive; every artist when empty), most played first."""
    source = f"({artist_totals(all_time)})"
    return Query(
        f"""
        SELECT artist_id, name, plays, ms FROM ({ARTIST_NAMES.format(source=source)}) n
        WHERE n.name IS NOT NULL AND (:q = '' OR strpos(lower(n.name), lower(:q)) > 0)
        ORDER BY plays DESC, ms DESC, artist_id
        LIMIT :limit
        """,
        {
            "u": user_id,
            "s": all_time_span.start_date,
            "e": all_time_span.end_date,
            "q": text.strip(),
            "limit": limit,
        },
    )


def profile(user_id: UUID, artist_id: str, span: Span) -> Query:
    """One row: name; plays, ms, tracks (with a play), days (with a play) in the window; first_date, last_date
    (first and last day with a play, all time); first_track (name of the first track played on first_date)."""
    return Query(
        f"""
        WITH rows AS (
            SELECT local_date, track_id, plays, ms_played FROM marts.agg_daily_track_plays
            WHERE user_id = :u AND primary_artist_id = :a
        ),
        w AS (SELECT * FROM rows WHERE local_date BETWEEN :s AND :e),
        firsts AS (SELECT min(local_date) AS first_date, max(local_date) AS last_date FROM rows WHERE plays > 0),
        named AS ({ARTIST_NAMES.format(source="(SELECT CAST(:a AS text) AS artist_id, 0 AS plays, 0 AS ms)")})
        SELECT (SELECT name FROM named) AS name,
               (SELECT coalesce(sum(plays), 0)::bigint FROM w) AS plays,
               (SELECT coalesce(sum(ms_played), 0)::bigint FROM w) AS ms,
               (SELECT count(DISTINCT track_id) FROM w WHERE plays > 0) AS tracks,
               (SELECT count(DISTINCT local_date) FROM w WHERE plays > 0) AS days,
               firsts.first_date, firsts.last_date,
               (SELECT n.name FROM ({
            TRACK_NAMES.format(
                source='''(
                    SELECT r.track_id, CAST(:a AS text) AS artist_id, r.plays, r.ms_played AS ms
                    FROM rows r WHERE r.local_date = firsts.first_date AND r.plays > 0
                    ORDER BY r.ms_played DESC, r.track_id LIMIT 1)'''
            )
        }) n) AS first_track
        FROM firsts
        """,
        {"u": user_id, "a": artist_id, "s": span.start_date, "e": span.end_date},
    )


def rank(user_id: UUID, artist_id: str, span: Span, *, all_time: bool) -> Query:
    """One row: rank (1 = most played; null without a play in the window), artists (with a play in the window)."""
    return Query(
        f"""
        WITH a AS MATERIALIZED ({artist_totals(all_time)})
        SELECT CASE WHEN EXISTS (SELECT 1 FROM a WHERE artist_id = :a)
                    THEN (SELECT count(*) FROM a
                          WHERE (plays, ms) > (SELECT plays, ms FROM a WHERE artist_id = :a)
                             OR ((plays, ms) = (SELECT plays, ms FROM a WHERE artist_id = :a) AND artist_id < :a)) + 1
               END AS rank,
               (SELECT count(*) FROM a) AS artists
        """,
        {"u": user_id, "a": artist_id, "s": span.start_date, "e": span.end_date},
    )


def plays_over_time(user_id: UUID, artist_id: str, span: Span, grain: Grain) -> Query:
    """period_start, days, plays, ms_played of the artist per bucket of the window (every bucket, zeros included)."""
    return Query(
        f"""
        WITH buckets AS ({BUCKETS}),
        per AS (
            SELECT b.period_start, sum(t.plays)::bigint AS plays, sum(t.ms_played)::bigint AS ms_played
            FROM marts.agg_daily_track_plays t JOIN buckets b ON b.local_date = t.local_date
            WHERE t.user_id = :u AND t.primary_artist_id = :a AND t.local_date BETWEEN :s AND :e
            GROUP BY b.period_start
        )
        SELECT b.period_start, count(*)::bigint AS days, coalesce(max(per.plays), 0)::bigint AS plays,
               coalesce(max(per.ms_played), 0)::bigint AS ms_played
        FROM buckets b LEFT JOIN per ON per.period_start = b.period_start
        GROUP BY b.period_start ORDER BY b.period_start
        """,
        {"u": user_id, "a": artist_id, "s": span.start_date, "e": span.end_date, "grain": grain.value},
    )


def top_tracks(user_id: UUID, artist_id: str, span: Span, limit: int) -> Query:
    """track_id, artist_id, plays, ms, name, artist_name of the artist's most played tracks in the window."""
    source = """(
        SELECT track_id, CAST(:a AS text) AS artist_id, sum(plays)::bigint AS plays, sum(ms_played)::bigint AS ms
        FROM marts.agg_daily_track_plays
        WHERE user_id = :u AND primary_artist_id = :a AND local_date BETWEEN :s AND :e
        GROUP BY track_id HAVING sum(plays) > 0
        ORDER BY plays DESC, ms DESC, track_id LIMIT :limit)"""
    return Query(
        TRACK_NAMES.format(source=source) + " ORDER BY x.plays DESC, x.ms DESC, x.track_id",
        {"u": user_id, "a": artist_id, "s": span.start_date, "e": span.end_date, "limit": limit},
    )
