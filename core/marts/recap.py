"""A period in review — the figures of a year (or any window) a person would want in a recap, beyond those of
`listening` (totals, heatmap) and `rankings` (top tracks and artists): top albums, what was discovered, the
busiest day, the longest streak, and the window to hold it against (the same span just before).

Shaped for reuse by a `history.recap` tool (issue 18): every figure is a query over the contract's marts with
the window's local days, nothing specific to a page.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from core.marts.listening import BUCKETS
from core.marts.rankings import ALBUMS, ARTIST_NAMES, NAMED_TOPS, TRACK_NAMES, Years, track_totals
from core.marts.sql import Param, Query
from core.marts.windows import Grain, Period, Span, make_span, preceding_range


def previous_span(span: Span) -> Span:
    """The span to compare a recap with: for a calendar year (or the part of it so far) the same days of the year
    before; otherwise the same number of days just before."""
    is_year = span.start_date == date(span.start_date.year, 1, 1) and span.end_date.year == span.start_date.year
    start, end, _ = preceding_range(Period.this_year if is_year else None, span.start_date, span.end_date)
    label = str(span.start_date.year - 1) if is_year and span.end_date.month == 12 and span.end_date.day == 31 else ""
    return make_span(label or f"{start.isoformat()}..{end.isoformat()}", start, end, span.zone, span.today)


def top_albums(user_id: UUID, span: Span, limit: int, *, all_time: bool) -> Query:
    """album (name), artist_name, plays, ms, tracks of the most played albums of the window (tracks grouped by
    album id, or by album name and primary artist when a track has no album id)."""
    return Query(
        f"WITH p AS MATERIALIZED ({track_totals(all_time)}) {ALBUMS.format(source='p')}",
        {"u": user_id, "s": span.start_date, "e": span.end_date, "limit": limit},
    )


# How many top tracks, artists and albums agg_yearly_recap keeps (`top` in its model): history.recap's largest
# `limit`.
STORED_TOP_ITEMS = 20


def stored_summary(user_id: UUID, limit: int, *, all_time: bool, years: Years | None) -> Query | None:
    """The recap mart's row for a window that is all of the user's data (`all_time`) or exactly one calendar year
    (`years` from `rankings.whole_years`, without other days), in the shape of `rankings.window_summary(...,
    albums=True)` and with its answer: the figures and the `limit` first of the stored top lists, named now (albums
    from their stored tracks, as ALBUMS names them). No row for a year without plays. None for any other window,
    or a `limit` beyond what the mart keeps: those are summed from the per-track totals."""
    if limit > STORED_TOP_ITEMS:
        return None
    params: dict[str, Param] = {"u": user_id, "limit": limit}
    if all_time:
        year = "r.year_start IS NULL"
    elif years is not None and years.first == years.last and not years.head and not years.tail:
        year, params["y"] = "r.year_start = :y", years.first
    else:
        return None
    return Query(
        f"""
        WITH r AS MATERIALIZED (SELECT * FROM marts.agg_yearly_recap r WHERE r.user_id = :u AND {year}),
        tt AS (SELECT x.* FROM r, jsonb_to_recordset(r.top_tracks) AS x(track_id text, artist_id text, plays bigint,
                                                                          ms bigint)
               ORDER BY x.plays DESC, x.ms DESC, x.track_id LIMIT :limit),
        ta AS (SELECT x.* FROM r, jsonb_to_recordset(r.top_artists) AS x(artist_id text, plays bigint, ms bigint)
               ORDER BY x.plays DESC, x.ms DESC, x.artist_id LIMIT :limit),
        al AS (
            SELECT e.n, min(dt.album_name) AS album, min(coalesce(da.name, dt.primary_artist_name)) AS artist_name,
                   max((e.item->>'plays')::bigint) AS plays, max((e.item->>'ms')::bigint) AS ms,
                   max((e.item->>'tracks')::bigint) AS tracks
            FROM r
            CROSS JOIN LATERAL jsonb_array_elements(r.top_albums) WITH ORDINALITY AS e(item, n)
            CROSS JOIN LATERAL ROWS FROM (jsonb_array_elements_text(e.item->'track_ids'),
                                         jsonb_array_elements_text(e.item->'artist_ids')) AS t(track_id, artist_id)
            JOIN marts.dim_tracks dt ON dt.track_id = t.track_id
            LEFT JOIN marts.dim_artists da ON da.artist_id = t.artist_id
            WHERE e.n <= :limit
            GROUP BY e.n
        )
        SELECT r.plays, r.unique_tracks, r.unique_artists, r.tracks_played_once AS once,
               r.max_plays_single_track AS maxp, r.top10_plays AS top10,
               {NAMED_TOPS},
               (SELECT json_agg(json_build_object('album', al.album, 'artist_name', al.artist_name, 'plays', al.plays,
                                                  'ms', al.ms, 'tracks', al.tracks) ORDER BY al.n)
                FROM al) AS top_albums
        FROM r
        """,
        params,
    )


# An artist or track is new in a window when it has a play there and none before it (as compare_periods' new
# artists). Only the window's per-day rows are read; "none before" is an index probe per artist (by
# `(user_id, primary_artist_id)`) or track (`(user_id, track_id)`), skipped when the window starts on or before
# the first day of the history (then everything in it is new), where a probe would read every earlier row.
_BEFORE_HISTORY = "CAST(:s AS date) <= (SELECT min(local_date) FROM marts.agg_daily_listening WHERE user_id = :u)"
_NEW_ARTISTS = f"""
    SELECT t.primary_artist_id AS artist_id, min(t.local_date) FILTER (WHERE t.plays > 0) AS first_day,
           sum(t.plays)::bigint AS plays, sum(t.ms_played)::bigint AS ms
    FROM marts.agg_daily_track_plays t
    WHERE t.user_id = :u AND t.local_date BETWEEN :s AND :e AND t.primary_artist_id IS NOT NULL
    GROUP BY t.primary_artist_id
    HAVING sum(t.plays) > 0
       AND ({_BEFORE_HISTORY}
            OR NOT EXISTS (SELECT 1 FROM marts.agg_daily_track_plays b
                           WHERE b.user_id = :u AND b.primary_artist_id = t.primary_artist_id
                             AND b.local_date < :s AND b.plays > 0))
"""
_NEW_TRACKS = f"""
    SELECT t.track_id, max(t.primary_artist_id) AS artist_id, min(t.local_date) FILTER (WHERE t.plays > 0) AS first_day,
           sum(t.plays)::bigint AS plays, sum(t.ms_played)::bigint AS ms
    FROM marts.agg_daily_track_plays t
    WHERE t.user_id = :u AND t.local_date BETWEEN :s AND :e
    GROUP BY t.track_id
    HAVING sum(t.plays) > 0
       AND ({_BEFORE_HISTORY}
            OR NOT EXISTS (SELECT 1 FROM marts.agg_daily_track_plays b
                           WHERE b.user_id = :u AND b.track_id = t.track_id AND b.local_date < :s AND b.plays > 0))
"""


def discovery_counts(user_id: UUID, span: Span) -> Query:
    """One row: new_artists, new_tracks — played in the window and never before it."""
    return Query(
        f"""
        SELECT (SELECT count(*) FROM ({_NEW_ARTISTS}) a) AS new_artists,
               (SELECT count(*) FROM ({_NEW_TRACKS}) t) AS new_tracks
        """,
        {"u": user_id, "s": span.start_date, "e": span.end_date},
    )


def discoveries_over_time(user_id: UUID, span: Span, grain: Grain) -> Query:
    """period_start, days, new_artists (first played ever in that bucket) per bucket of the window."""
    return Query(
        f"""
        WITH buckets AS ({BUCKETS}),
        per AS (
            SELECT b.period_start, count(*)::bigint AS new_artists
            FROM ({_NEW_ARTISTS}) f JOIN buckets b ON b.local_date = f.first_day
            GROUP BY b.period_start
        )
        SELECT b.period_start, count(*)::bigint AS days, coalesce(max(per.new_artists), 0)::bigint AS new_artists
        FROM buckets b LEFT JOIN per ON per.period_start = b.period_start
        GROUP BY b.period_start ORDER BY b.period_start
        """,
        {"u": user_id, "s": span.start_date, "e": span.end_date, "grain": grain.value},
    )


def new_artists(user_id: UUID, span: Span, limit: int) -> Query:
    """artist_id, plays, ms, name, first_day of the artists first played inside the window, most played there."""
    return Query(
        f"""
        WITH f AS MATERIALIZED (SELECT * FROM ({_NEW_ARTISTS}) n ORDER BY plays DESC, ms DESC, artist_id LIMIT :limit)
        SELECT named.*, f.first_day FROM ({ARTIST_NAMES.format(source="f")}) named JOIN f USING (artist_id)
        ORDER BY named.plays DESC, named.ms DESC, named.artist_id
        """,
        {"u": user_id, "s": span.start_date, "e": span.end_date, "limit": limit},
    )


def new_tracks(user_id: UUID, span: Span, limit: int) -> Query:
    """track_id, artist_id, plays, ms, name, artist_name of the tracks first played inside the window."""
    source = f"(SELECT * FROM ({_NEW_TRACKS}) f ORDER BY plays DESC, ms DESC, track_id LIMIT :limit)"
    return Query(
        TRACK_NAMES.format(source=source) + " ORDER BY x.plays DESC, x.ms DESC, x.track_id",
        {"u": user_id, "s": span.start_date, "e": span.end_date, "limit": limit},
    )


def busiest_day(user_id: UUID, span: Span) -> Query:
    """local_date, plays, ms_played of the day with the most music plays in the window (none without plays)."""
    return Query(
        """
        SELECT local_date, plays::bigint AS plays, ms_played::bigint AS ms_played
        FROM marts.agg_daily_listening
        WHERE user_id = :u AND content_kind = 'track' AND local_date BETWEEN :s AND :e AND plays > 0
        ORDER BY plays DESC, ms_played DESC, local_date
        LIMIT 1
        """,
        {"u": user_id, "s": span.start_date, "e": span.end_date},
    )


def longest_streak(user_id: UUID, span: Span) -> Query:
    """start_date, end_date, days of the longest run of consecutive days with a music play in the window (the
    latest of equally long runs; none without plays)."""
    return Query(
        """
        WITH d AS (
            SELECT local_date, local_date - (row_number() OVER (ORDER BY local_date))::int AS run
            FROM marts.agg_daily_listening
            WHERE user_id = :u AND content_kind = 'track' AND local_date BETWEEN :s AND :e AND plays > 0
        )
        SELECT min(local_date) AS start_date, max(local_date) AS end_date, count(*)::bigint AS days
        FROM d GROUP BY run
        ORDER BY days DESC, start_date DESC
        LIMIT 1
        """,
        {"u": user_id, "s": span.start_date, "e": span.end_date},
    )


def active_years(user_id: UUID) -> Query:
    """year, plays of every calendar year (local) with music plays, latest first."""
    return Query(
        """
        SELECT extract(year FROM local_date)::int AS year, sum(plays)::bigint AS plays
        FROM marts.agg_daily_listening
        WHERE user_id = :u AND content_kind = 'track'
        GROUP BY 1 HAVING sum(plays) > 0
        ORDER BY 1 DESC
        """,
        {"u": user_id},
    )
