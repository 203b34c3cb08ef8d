"""Single plays: a page of the plays of a window (newest or oldest first, keyset-paginated on the
`(user_id, played_at)` index), the first or last play of an artist or track, and what was played on the same
date in earlier years. Windows are local days; instants are passed as ISO text so that the queries also render
for the dashboards' pushdown."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from core.marts.rankings import ARTIST_NAMES, TRACK_NAMES
from core.marts.sql import Param, Query

type Order = Literal["newest", "oldest"]
type SubjectKind = Literal["artist", "track"]

# What a page of plays shows; album from the track dimension, names from the play (as the user heard them).
_PLAY_COLUMNS = """
    f.played_at, f.local_date, f.local_hour, f.track_id, f.ms_played, f.counts_as_play, f.source,
    coalesce(dt.name, f.track_name) AS track_name, f.primary_artist_id AS artist_id,
    coalesce(da.name, dt.primary_artist_name, f.primary_artist_name) AS artist_name,
    coalesce(dt.album_name, f.album_name) AS album_name, dt.album_id
"""


def play_page(
    user_id: UUID,
    *,
    start: str,
    end: str,
    order: Order,
    limit: int,
    artist_id: str | None = None,
    track_ids: list[str] | None = None,
    include_skips: bool = False,
    from_hour: int | None = None,
    to_hour: int | None = None,
    after: tuple[str, str] | None = None,
) -> Query:
    """Music plays with `start <= played_at < end` (ISO instants), optionally of one artist (primary artist) or of
    some tracks, within local hours `from_hour <= local_hour < to_hour`, ordered by (played_at, track_id) and
    continuing after the cursor `after` = (played_at ISO, track_id). Asks for `limit + 1` rows so the caller knows
    whether a next page exists."""
    direction, compare = ("DESC", "<") if order == "newest" else ("ASC", ">")
    filters = ["f.user_id = :u", "f.content_kind = 'track'", "f.played_at >= CAST(CAST(:t0 AS text) AS timestamptz)",
               "f.played_at < CAST(CAST(:t1 AS text) AS timestamptz)"]  # fmt: skip
    params: dict[str, Param] = {"u": user_id, "t0": start, "t1": end, "limit": limit + 1}
    if not include_skips:
        filters.append("f.counts_as_play")
    if artist_id is not None:
        filters.append("f.primary_artist_id = :a")
        params["a"] = artist_id
    if track_ids is not None:
        filters.append("f.track_id = ANY(CAST(:tracks AS text[]))")
        params["tracks"] = track_ids
    if from_hour is not None:
        filters.append("f.local_hour >= :h0")
        params["h0"] = from_hour
    if to_hour is not None:
        filters.append("f.local_hour < :h1")
        params["h1"] = to_hour
    if after is not None:
        filters.append(
            f"(f.played_at, f.track_id) {compare} (CAST(CAST(:c_at AS text) AS timestamptz), CAST(:c_track AS text))"
        )
        params["c_at"], params["c_track"] = after
    return Query(
        f"""
        SELECT {_PLAY_COLUMNS}
        FROM marts.fct_plays f
        LEFT JOIN marts.dim_tracks dt ON dt.track_id = f.track_id
        LEFT JOIN marts.dim_artists da ON da.artist_id = f.primary_artist_id
        WHERE {" AND ".join(filters)}
        ORDER BY f.played_at {direction}, f.track_id {direction}
        LIMIT :limit
        """,
        params,
    )


def matching_count(
    user_id: UUID,
    span_start: date,
    span_end: date,
    *,
    artist_id: str | None,
    track_ids: list[str] | None,
    listens: bool,
) -> Query:
    """One row: count, the plays (or listens) of the window's days matching the filters, from the daily aggregate."""
    filters = ["user_id = :u", "local_date BETWEEN :s AND :e"]
    params: dict[str, Param] = {"u": user_id, "s": span_start, "e": span_end}
    if artist_id is not None:
        filters.append("primary_artist_id = :a")
        params["a"] = artist_id
    if track_ids is not None:
        filters.append("track_id = ANY(CAST(:tracks AS text[]))")
        params["tracks"] = track_ids
    column = "listens" if listens else "plays"
    return Query(
        f"SELECT coalesce(sum({column}), 0)::bigint AS count FROM marts.agg_daily_track_plays "
        f"WHERE {' AND '.join(filters)}",
        params,
    )


def album_tracks(user_id: UUID, album: str) -> Query:
    """track_id, album_id, album_name of the user's tracks (with a play) on an album given by id or by name
    (case-insensitive, exact)."""
    return Query(
        """
        SELECT dt.track_id, dt.album_id, dt.album_name
        FROM marts.dim_tracks dt
        JOIN marts.agg_first_plays f ON f.user_id = :u AND f.subject_kind = 'track' AND f.subject_id = dt.track_id
        WHERE dt.album_id = :album OR lower(dt.album_name) = lower(:album)
        """,
        {"u": user_id, "album": album.strip()},
    )


def contains_pattern(text: str) -> str:
    """A LIKE pattern for the names containing `text` literally: its wildcards and the escape character escaped.
    Lower-cased by the query (`lower(name) LIKE lower(pattern)` is `strpos(lower(name), lower(text)) > 0`), as
    PostgreSQL's `lower()` and Python's differ on some letters."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find_subjects(user_id: UUID, kind: SubjectKind, text: str, limit: int, *, artist_id: str | None = None) -> Query:
    """subject_id, name, artist_id, artist_name, plays of the user's artists or tracks whose id is `text` or whose
    name contains it (case-insensitive), exact names first, then most played; tracks optionally of one artist."""
    # Only subjects whose id or dimension name matches (or that have no dimension row, named from their plays) get
    # names: naming every artist or track of a large history would cost far more than the search.
    if kind == "artist":
        source = """(SELECT f.subject_id AS artist_id, f.plays, f.ms_played AS ms
                     FROM marts.agg_first_plays f
                     LEFT JOIN marts.dim_artists d ON d.artist_id = f.subject_id
                     WHERE f.user_id = :u AND f.subject_kind = 'artist'
                       AND (d.artist_id IS NULL OR f.subject_id = :q OR strpos(lower(d.name), lower(:q)) > 0))"""
        named = ARTIST_NAMES.format(source=source)
        select = "n.artist_id AS subject_id, n.name, n.artist_id, n.name AS artist_name, n.plays"
    else:
        # Titles are looked up in the dimension (`lower(name) LIKE`, served by its trigram index when pg_trgm is
        # installed) and joined to the user's tracks by key; only the `limit` first in the answer's order (which
        # the dimension's name decides) are named. Every played track has a dimension row (fct_plays' tested
        # relationship): one without (a broken or half-built warehouse) is found by its id only — looking for
        # such tracks costs a pass over all of the user's tracks, which the index exists to avoid.
        source = """(SELECT x.track_id, x.artist_id, x.plays, x.ms FROM (
                         SELECT f.subject_id AS track_id, f.artist_id, f.plays, f.ms_played AS ms
                         FROM marts.dim_tracks d
                         JOIN marts.agg_first_plays f
                           ON f.user_id = :u AND f.subject_kind = 'track' AND f.subject_id = d.track_id
                         WHERE (lower(d.name) LIKE lower(:pattern) OR d.track_id = :q)
                           AND (CAST(:artist AS text) IS NULL OR f.artist_id = :artist)
                         ORDER BY (f.subject_id = :q) DESC, (lower(d.name) = lower(:q)) DESC, f.plays DESC,
                                  f.subject_id
                         LIMIT :limit) x
                     UNION ALL
                     SELECT o.subject_id, o.artist_id, o.plays, o.ms_played FROM marts.agg_first_plays o
                     WHERE o.user_id = :u AND o.subject_kind = 'track' AND o.subject_id = :q
                       AND (CAST(:artist AS text) IS NULL OR o.artist_id = :artist)
                       AND NOT EXISTS (SELECT FROM marts.dim_tracks d WHERE d.track_id = o.subject_id))"""
        named = TRACK_NAMES.format(source=source)
        select = "n.track_id AS subject_id, n.name, n.artist_id, n.artist_name, n.plays"
    return Query(
        f"""
        SELECT {select} FROM ({named}) n
        WHERE n.{kind}_id = :q OR strpos(lower(n.name), lower(:q)) > 0
        ORDER BY (n.{kind}_id = :q) DESC, (lower(n.name) = lower(:q)) DESC, n.plays DESC, n.{kind}_id
        LIMIT :limit
        """,
        {
            "u": user_id,
            "q": text.strip(),
            "pattern": contains_pattern(text.strip()),
            "limit": limit,
            "artist": artist_id,
        },
    )


def subject_firsts(user_id: UUID, kind: SubjectKind, subject_id: str) -> Query:
    """The subject's row of agg_first_plays: first_date, last_date, plays, ms_played, days_played,
    first_week_plays, artist_id (none without a play)."""
    return Query(
        """
        SELECT first_date, last_date, plays, ms_played, days_played, first_week_plays, artist_id
        FROM marts.agg_first_plays WHERE user_id = :u AND subject_kind = :k AND subject_id = :id
        """,
        {"u": user_id, "k": kind, "id": subject_id},
    )


def edge_play(user_id: UUID, kind: SubjectKind, subject_id: str, *, start: str, end: str, last: bool) -> Query:
    """The first (or last) play of an artist or track between two instants (its first or last local day): the
    columns of a page of plays."""
    column = "primary_artist_id" if kind == "artist" else "track_id"
    direction = "DESC" if last else "ASC"
    return Query(
        f"""
        SELECT {_PLAY_COLUMNS}
        FROM marts.fct_plays f
        LEFT JOIN marts.dim_tracks dt ON dt.track_id = f.track_id
        LEFT JOIN marts.dim_artists da ON da.artist_id = f.primary_artist_id
        WHERE f.user_id = :u AND f.content_kind = 'track' AND f.counts_as_play AND f.{column} = :id
          AND f.played_at >= CAST(CAST(:t0 AS text) AS timestamptz)
          AND f.played_at < CAST(CAST(:t1 AS text) AS timestamptz)
        ORDER BY f.played_at {direction}, f.track_id {direction}
        LIMIT 1
        """,
        {"u": user_id, "id": subject_id, "t0": start, "t1": end},
    )


def days_summary(user_id: UUID, days: list[str]) -> Query:
    """local_date, plays, ms_played of each of these local days (ISO dates) with a music play."""
    return Query(
        """
        SELECT local_date, plays::bigint AS plays, ms_played::bigint AS ms_played
        FROM marts.agg_daily_listening
        WHERE user_id = :u AND content_kind = 'track' AND plays > 0
          AND local_date = ANY(CAST(CAST(:days AS text[]) AS date[]))
        ORDER BY local_date DESC
        """,
        {"u": user_id, "days": days},
    )


def days_top_tracks(user_id: UUID, days: list[str], limit: int) -> Query:
    """local_date, track_id, artist_id, plays, ms, name, artist_name of the `limit` most played tracks of each of
    these local days."""
    source = """(
        SELECT local_date, track_id, artist_id, plays, ms FROM (
            SELECT local_date, track_id, primary_artist_id AS artist_id, plays, ms_played AS ms,
                   row_number() OVER (PARTITION BY local_date ORDER BY plays DESC, ms_played DESC, track_id) AS n
            FROM marts.agg_daily_track_plays
            WHERE user_id = :u AND local_date = ANY(CAST(CAST(:days AS text[]) AS date[])) AND plays > 0
        ) ranked WHERE n <= :limit)"""
    named = TRACK_NAMES.format(source=source).replace("SELECT x.track_id,", "SELECT x.local_date, x.track_id,", 1)
    return Query(
        named + " ORDER BY x.local_date DESC, x.plays DESC, x.ms DESC, x.track_id",
        {"u": user_id, "days": days, "limit": limit},
    )


def subject_totals(user_id: UUID, kind: SubjectKind, subject_id: str, start: date, end: date) -> Query:
    """One row: plays, ms of an artist (as primary artist) or a track in the local days start..end."""
    column = "primary_artist_id" if kind == "artist" else "track_id"
    return Query(
        f"""
        SELECT coalesce(sum(plays), 0)::bigint AS plays, coalesce(sum(ms_played), 0)::bigint AS ms
        FROM marts.agg_daily_track_plays
        WHERE user_id = :u AND {column} = :id AND local_date BETWEEN :s AND :e
        """,
        {"u": user_id, "id": subject_id, "s": start, "e": end},
    )


def track_names(user_id: UUID, track_ids: list[str]) -> Query:
    """track_id, artist_id, name, artist_name of each track id (the dimension's names, else those on the plays)."""
    source = """(SELECT t.track_id, max(a.artist_id) AS artist_id, 0 AS plays, 0 AS ms
                 FROM unnest(CAST(:ids AS text[])) AS t(track_id)
                 LEFT JOIN marts.agg_first_plays a
                   ON a.user_id = :u AND a.subject_kind = 'track' AND a.subject_id = t.track_id
                 GROUP BY t.track_id)"""
    return Query(TRACK_NAMES.format(source=source), {"u": user_id, "ids": track_ids})
