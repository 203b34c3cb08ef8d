"""Top tracks and artists, unique counts and repeat figures of a window.

Window queries read the daily aggregate `agg_daily_track_plays` (a 90-day answer reads a few thousand rows);
windows holding whole calendar years read those years from `agg_yearly_track_plays` and only the remaining days
from the daily aggregate (`whole_years`; a year is ~35,000 rows there, ~90,000 per-day rows, at 1,000,000 plays);
all-time answers (`all_time=True`: the window covers every day of the user's data, see
`windows.reads_all_time_marts`) read `agg_track_totals` instead — one row per track, not one per day, with the
same answer. Only tracks and artists with at least one play (the play rule) are ranked or counted. Names come
from the dimensions, falling back to the names denormalised on `fct_plays` only for ids missing from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from core.marts.sql import Param, Query
from core.marts.windows import Span

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

# The most played albums among per-track totals `{source}` (track_id, artist_id, plays, ms): tracks grouped by album
# id, or by album name and primary artist when a track has no album id.
ALBUMS = """
    SELECT min(dt.album_name) AS album, min(coalesce(da.name, dt.primary_artist_name)) AS artist_name,
           sum(p.plays)::bigint AS plays, sum(p.ms)::bigint AS ms, count(*)::bigint AS tracks
    FROM {source} p
    JOIN marts.dim_tracks dt ON dt.track_id = p.track_id
    LEFT JOIN marts.dim_artists da ON da.artist_id = p.artist_id
    WHERE dt.album_name IS NOT NULL AND dt.album_name <> ''
    GROUP BY coalesce(dt.album_id, dt.album_name || '|' || coalesce(p.artist_id, ''))
    ORDER BY plays DESC, ms DESC, album
    LIMIT :limit
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


@dataclass(frozen=True, slots=True)
class Years:
    """The whole calendar years of a window (`first` and `last` are their 1 Januaries), read from the yearly mart;
    the window's other days, before `first` (`head`) and after `last`'s year (`tail`), from the per-day rows."""

    first: date
    last: date
    head: bool
    tail: bool

    def params(self) -> dict[str, Param]:
        return {
            "y0": self.first,
            "y1": self.last,
            "head_end": self.first - timedelta(days=1),
            "tail_start": date(self.last.year + 1, 1, 1),
        }

    def rows_sql(self) -> str:
        """The window's rows as per-day rows would give them: track_id, primary_artist_id, plays, ms_played (rows
        without a play included, so listening time adds up). The per-day parts are left out when empty: over a
        union the planner cannot estimate the number of tracks (it guesses 200 and then joins the dimension track
        by track), over the yearly mart alone it can."""
        parts = [
            """SELECT track_id, primary_artist_id, plays, ms_played FROM marts.agg_yearly_track_plays
               WHERE user_id = :u AND year_start BETWEEN :y0 AND :y1"""
        ]
        if self.head:
            parts.append(
                """SELECT track_id, primary_artist_id, plays, ms_played FROM marts.agg_daily_track_plays
                   WHERE user_id = :u AND local_date BETWEEN :s AND :head_end"""
            )
        if self.tail:
            parts.append(
                """SELECT track_id, primary_artist_id, plays, ms_played FROM marts.agg_daily_track_plays
                   WHERE user_id = :u AND local_date BETWEEN :tail_start AND :e"""
            )
        return "\n UNION ALL\n".join(parts)

    def tracks_sql(self) -> str:
        """Per-track totals (track_id, artist_id, plays, ms), as `WINDOW_TRACKS`."""
        return f"""
            SELECT track_id, max(primary_artist_id) AS artist_id, sum(plays)::bigint AS plays,
                   sum(ms_played)::bigint AS ms
            FROM ({self.rows_sql()}) r
            GROUP BY track_id
            HAVING sum(plays) > 0"""

    def artists_sql(self) -> str:
        """Per-artist totals (artist_id, plays, ms), as `WINDOW_ARTISTS`."""
        return f"""
            SELECT primary_artist_id AS artist_id, sum(plays)::bigint AS plays, sum(ms_played)::bigint AS ms
            FROM ({self.rows_sql()}) r
            WHERE primary_artist_id IS NOT NULL
            GROUP BY primary_artist_id
            HAVING sum(plays) > 0"""


def whole_years(span: Span, last_date: date | None) -> Years | None:
    """The calendar years wholly inside the window, or None. The year of the window's end counts when the user has
    no data after the end (`last_date`, their last day with data, is on or before it): "this year" so far is then
    the whole year's row. Sums over the years and the remaining days equal the sums over the window's days."""
    start, end = span.start_date, span.end_date
    first = start.year if start == date(start.year, 1, 1) else start.year + 1
    reaches_end = last_date is not None and last_date <= end
    last = end.year if reaches_end or end == date(end.year, 12, 31) else end.year - 1
    if first > last:
        return None
    return Years(date(first, 1, 1), date(last, 1, 1), head=start.year < first, tail=end.year > last)


# Plays-per-track histogram edges: a bucket holds tracks with `low <= plays <= high` (None: no upper end).
PLAYS_PER_TRACK_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (1, 1),
    (2, 2),
    (3, 5),
    (6, 10),
    (11, 20),
    (21, 50),
    (51, 100),
    (101, 200),
    (201, 500),
    (501, None),
)


def track_totals(all_time: bool, years: Years | None = None) -> str:
    """The SQL of per-track totals (track_id, artist_id, plays, ms) of a window (`:u`, `:s`, `:e`, and with `years`
    its parameters)."""
    if all_time:
        return ALL_TIME_TRACKS
    return WINDOW_TRACKS if years is None else years.tracks_sql()


def artist_totals(all_time: bool, years: Years | None = None) -> str:
    """The SQL of per-artist totals (artist_id, plays, ms) of a window (`:u`, `:s`, `:e`, and with `years` its
    parameters)."""
    if all_time:
        return ALL_TIME_ARTISTS
    return WINDOW_ARTISTS if years is None else years.artists_sql()


def window_params(user_id: UUID, span: Span, years: Years | None = None) -> dict[str, Param]:
    """The parameters of a window's totals."""
    return {"u": user_id, "s": span.start_date, "e": span.end_date, **(years.params() if years else {})}


# The columns top_tracks and top_artists (json lists, most played first, named) of a summary, from the ranked
# per-track rows `tt` and per-artist rows `ta` (track_id / artist_id, plays, ms) it defines.
NAMED_TOPS = f"""
    (SELECT json_agg(n ORDER BY n.plays DESC, n.ms DESC, n.track_id)
     FROM ({TRACK_NAMES.format(source="tt")}) n) AS top_tracks,
    (SELECT json_agg(n ORDER BY n.plays DESC, n.ms DESC, n.artist_id)
     FROM ({ARTIST_NAMES.format(source="ta")}) n) AS top_artists"""


def window_summary(
    user_id: UUID, span: Span, limit: int, *, all_time: bool, albums: bool = False, years: Years | None = None
) -> Query:
    """One row: plays, unique_tracks, unique_artists, once (tracks played once), maxp (most plays of one
    track), top10 (plays of the 10 most played tracks), top_tracks and top_artists (json lists of `limit`);
    with `albums`, also top_albums (json list of `limit`: album, artist_name, plays, ms, tracks — the figure of
    `recap.top_albums`, from the same per-track totals instead of a second pass over the window). `years`: the
    window's whole years (`whole_years`), read from the yearly mart."""
    album_column = (
        f",\n            (SELECT json_agg(b) FROM ({ALBUMS.format(source='p')}) b) AS top_albums" if albums else ""
    )
    sql = f"""
        WITH p AS MATERIALIZED ({track_totals(all_time, years)}),
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
            {NAMED_TOPS}{album_column}
        FROM s
    """
    return Query(sql, {**window_params(user_id, span, years), "limit": limit})


def top_artists(user_id: UUID, span: Span, limit: int, *, all_time: bool) -> Query:
    """artist_id, plays, ms, name of the `limit` most played artists, most played first."""
    source = f"({artist_totals(all_time)} ORDER BY plays DESC, ms DESC, artist_id LIMIT :limit)"
    sql = ARTIST_NAMES.format(source=source) + " ORDER BY x.plays DESC, x.ms DESC, x.artist_id"
    return Query(sql, {"u": user_id, "s": span.start_date, "e": span.end_date, "limit": limit})


def top_tracks(user_id: UUID, span: Span, limit: int, *, all_time: bool) -> Query:
    """track_id, artist_id, plays, ms, name, artist_name of the `limit` most played tracks, most played first."""
    source = f"({track_totals(all_time)} ORDER BY plays DESC, ms DESC, track_id LIMIT :limit)"
    sql = TRACK_NAMES.format(source=source) + " ORDER BY x.plays DESC, x.ms DESC, x.track_id"
    return Query(sql, {"u": user_id, "s": span.start_date, "e": span.end_date, "limit": limit})


def repeat_window(user_id: UUID, span: Span, *, all_time: bool) -> Query:
    """One row: plays, unique_tracks, once, maxp, top10 of the window."""
    sql = f"""
        WITH p AS MATERIALIZED ({track_totals(all_time)})
        SELECT coalesce(sum(plays), 0)::bigint AS plays, count(*) AS unique_tracks,
               count(*) FILTER (WHERE plays = 1) AS once, coalesce(max(plays), 0)::bigint AS maxp,
               (SELECT coalesce(sum(plays), 0) FROM (SELECT plays FROM p ORDER BY plays DESC LIMIT 10) t)::bigint
                   AS top10
        FROM p
    """
    return Query(sql, {"u": user_id, "s": span.start_date, "e": span.end_date})


def repeat_all_time(user_id: UUID) -> Query:
    """The all-time repeat mart's row (none before the user has a play)."""
    return Query(
        """
        SELECT plays, unique_tracks, repeat_rate, top10_share, tracks_played_once, max_plays_single_track
        FROM marts.fct_repeat_stats WHERE user_id = :u
        """,
        {"u": user_id},
    )


@dataclass(frozen=True, slots=True)
class Repeat:
    plays: int
    unique_tracks: int
    repeat_rate: float  # 1 - unique_tracks / plays
    top10_share: float  # share of plays by the 10 most played tracks
    tracks_played_once: int
    max_plays_single_track: int


def repeat_figures(
    plays: int,
    unique_tracks: int,
    tracks_played_once: int,
    max_plays_single_track: int,
    *,
    top10_plays: int | None = None,
    repeat_rate: float | None = None,
    top10_share: float | None = None,
) -> Repeat:
    """The repeat figures as every face shows them (rates rounded to 4 places, 0 without plays), from a window's
    counts or the all-time mart's precomputed rates."""
    if repeat_rate is None:
        repeat_rate = (1 - unique_tracks / plays) if plays else 0.0
    if top10_share is None:
        top10_share = ((top10_plays or 0) / plays) if plays else 0.0
    return Repeat(
        plays=plays,
        unique_tracks=unique_tracks,
        repeat_rate=round(repeat_rate, 4),
        top10_share=round(top10_share, 4),
        tracks_played_once=tracks_played_once,
        max_plays_single_track=max_plays_single_track,
    )


def share(part: int, whole: int) -> float:
    """A share of plays as every face shows it (0-1, 4 places)."""
    return round(part / whole, 4) if whole else 0.0


def bucket_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return str(low) if low == high else f"{low}–{high}"


def plays_per_track(user_id: UUID, span: Span, *, all_time: bool) -> Query:
    """How many tracks were played how often in the window: bucket (label), low (its lowest count), tracks."""
    cases = " ".join(
        f"WHEN plays >= {low}" + ("" if high is None else f" AND plays <= {high}") + f" THEN {low}"
        for low, high in PLAYS_PER_TRACK_BUCKETS
    )
    labels = " ".join(f"WHEN {low} THEN '{bucket_label(low, high)}'" for low, high in PLAYS_PER_TRACK_BUCKETS)
    sql = f"""
        WITH p AS MATERIALIZED ({track_totals(all_time)}),
        b AS (SELECT CASE {cases} END AS low FROM p)
        SELECT CASE low {labels} END AS bucket, low, count(*)::bigint AS tracks
        FROM b GROUP BY low ORDER BY low
    """
    return Query(sql, {"u": user_id, "s": span.start_date, "e": span.end_date})
