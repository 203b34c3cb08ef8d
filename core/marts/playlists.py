"""The history sources a playlist can be made from, besides the rankings' top tracks and the recap's discoveries
(which `rankings.top_tracks` and `recap.new_tracks` answer): "on repeat", "forgotten favourites", a taste
cluster's tracks. Each returns track_id, artist_id, plays, ms, name, artist_name, most played first, like the
rankings, so the tools treat every source alike."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from core.marts.rankings import TRACK_NAMES, track_totals
from core.marts.sql import Query
from core.marts.windows import Span

# "On repeat": played at least this often in the window (by default the last 30 days).
ON_REPEAT_MIN_PLAYS = 3
ON_REPEAT_DAYS = 30
# "Forgotten favourites": at least this many plays all time, none in the last FORGOTTEN_AFTER_DAYS days.
FORGOTTEN_MIN_PLAYS = 5
FORGOTTEN_AFTER_DAYS = 183


def _named(source: str) -> str:
    return TRACK_NAMES.format(source=source) + " ORDER BY x.plays DESC, x.ms DESC, x.track_id"


def on_repeat(user_id: UUID, span: Span, limit: int, *, all_time: bool) -> Query:
    """The tracks played at least ON_REPEAT_MIN_PLAYS times in the window, most played first."""
    source = f"""(SELECT * FROM ({track_totals(all_time)}) t WHERE t.plays >= :minp
                  ORDER BY plays DESC, ms DESC, track_id LIMIT :limit)"""
    return Query(
        _named(source),
        {"u": user_id, "s": span.start_date, "e": span.end_date, "limit": limit, "minp": ON_REPEAT_MIN_PLAYS},
    )


def forgotten_favourites(user_id: UUID, before: date, limit: int) -> Query:
    """Tracks with at least FORGOTTEN_MIN_PLAYS plays all time whose last listen was before `before` (a local
    day), most played first."""
    source = """(SELECT track_id, primary_artist_id AS artist_id, plays, ms_played AS ms
                 FROM marts.agg_track_totals
                 WHERE user_id = :u AND plays >= :minp AND last_local_date < :before
                 ORDER BY plays DESC, ms_played DESC, track_id LIMIT :limit)"""
    return Query(_named(source), {"u": user_id, "before": before, "limit": limit, "minp": FORGOTTEN_MIN_PLAYS})


def cluster_tracks(user_id: UUID, window_name: str, cluster_id: int, span: Span, limit: int) -> Query:
    """The most played tracks in the window whose primary artist belongs to the taste cluster."""
    source = """(
        SELECT d.track_id, max(d.primary_artist_id) AS artist_id, sum(d.plays)::bigint AS plays,
               sum(d.ms_played)::bigint AS ms
        FROM marts.agg_daily_track_plays d
        JOIN marts.fct_taste_cluster_artists c
          ON c.user_id = d.user_id AND c.artist_id = d.primary_artist_id AND c.window_name = :w AND c.cluster_id = :c
        WHERE d.user_id = :u AND d.local_date BETWEEN :s AND :e
        GROUP BY d.track_id HAVING sum(d.plays) > 0
        ORDER BY plays DESC, ms DESC, track_id LIMIT :limit)"""
    return Query(
        _named(source),
        {"u": user_id, "w": window_name, "c": cluster_id, "s": span.start_date, "e": span.end_date, "limit": limit},
    )


def cluster_labels(user_id: UUID, window_name: str) -> Query:
    """cluster_id, label of the user's clusters in a stored clustering."""
    return Query(
        "SELECT cluster_id, label FROM marts.fct_taste_clusters WHERE user_id = :u AND window_name = :w "
        "ORDER BY cluster_id",
        {"u": user_id, "w": window_name},
    )


def track_names(user_id: UUID, track_ids: list[str]) -> Query:
    """track_id, name, artist_name of the given tracks, as the user's history names them (export-only ones too)."""
    source = """(SELECT t.track_id, NULL::text AS artist_id, 0::bigint AS plays, 0::bigint AS ms
                 FROM unnest(CAST(:ids AS text[])) AS t(track_id))"""
    return Query(TRACK_NAMES.format(source=source), {"u": user_id, "ids": track_ids})
