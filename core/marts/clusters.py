"""Taste clusters in plain words: which clusterings exist, each cluster's artists and tracks, its share of
plays over time, and the mix of clusters in any period.

A cluster is a group of artists you tend to play in the same way — a listening mood or context (morning focus,
workouts, late nights). The cluster step (transform/clusters.py) groups a user's artists by k-means, per standard
window, and records every artist's cluster in `fct_taste_cluster_artists`; a period's plays then split by the
cluster of each day's primary artist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from core.marts.listening import BUCKETS
from core.marts.sql import Query
from core.marts.windows import Grain, Span

WINDOW_TITLES = {"last_90_days": "Last 90 days", "last_365_days": "Last 365 days", "all_time": "All time"}
WINDOW_ORDER = ("all_time", "last_365_days", "last_90_days")

FEATURE_SETS = {
    "audio_features": "the sound of the music (Spotify's audio features: energy, danceability, mood, tempo …)",
    "genres": "the genres Spotify lists for the artists",
    "behaviour": (
        "how you listen — which artists you play in the same sessions, at what time of day and week, how often you "
        "replay and skip them (Spotify shares no audio features or genres for these artists)"
    ),
}

MEANING = (
    "A taste cluster is a group of artists you tend to play in the same way — a listening mood or context, such as "
    "morning focus, workouts or late nights. Every artist you played in the window belongs to exactly one cluster; "
    "a cluster's share is the part of your plays that went to its artists."
)


def describe_silhouette(score: float | None) -> str:
    """How distinct the clusters are, from the silhouette score (−1…1)."""
    if score is None:
        return "how distinct the clusters are is unknown"
    if score >= 0.5:
        words = "clearly distinct: the groups barely overlap"
    elif score >= 0.25:
        words = "reasonably distinct: most artists sit well inside their group"
    elif score >= 0.1:
        words = "loosely separated: many artists sit between two groups"
    else:
        words = "overlapping: your listening does not split cleanly into groups"
    return f"{words} (silhouette {score:.2f} on a scale from −1 to 1)"


def cluster_name(top_artists: Sequence[dict[str, Any]], count: int = 3) -> str:
    """A cluster's name: its most played artists."""
    names = list(dict.fromkeys(str(item.get("name")) for item in top_artists if item.get("name")))[:count]
    if not names:
        return "Unnamed group"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " & " + names[-1]


def describe_distinguishing(distinguishing: dict[str, Any]) -> str:
    """What sets a cluster apart, as words ("late night, weekend, replayed a lot")."""
    return ", ".join(str(value) for value in distinguishing.values() if value not in (None, ""))


def clusterings(user_id: UUID) -> Query:
    """One row per stored clustering of the user: window_name, window_start, window_end, k, feature_set,
    quality_score, computed_at."""
    return Query(
        """
        SELECT window_name, min(window_start) AS window_start, max(window_end) AS window_end, max(k) AS k,
               max(feature_set) AS feature_set, max(quality_score) AS quality_score, max(computed_at) AS computed_at
        FROM marts.fct_taste_clusters WHERE user_id = :u
        GROUP BY window_name
        """,
        {"u": user_id},
    )


def clusters(user_id: UUID, window_name: str) -> Query:
    """The clusters of one stored clustering, by cluster_id (most played first)."""
    return Query(
        """
        SELECT window_name, window_start, window_end, cluster_id, label, share_of_plays, plays, top_artists,
               top_tracks, distinguishing, feature_set, k, quality_score, computed_at
        FROM marts.fct_taste_clusters
        WHERE user_id = :u AND window_name = :w
        ORDER BY cluster_id
        """,
        {"u": user_id, "w": window_name},
    )


def share_over_time(user_id: UUID, window_name: str, span: Span, grain: Grain) -> Query:
    """period_start, cluster_id, plays, share (of the bucket's clustered plays, 0-1) per bucket of the window."""
    return Query(
        f"""
        WITH buckets AS ({BUCKETS}),
        members AS (
            SELECT artist_id, cluster_id FROM marts.fct_taste_cluster_artists WHERE user_id = :u AND window_name = :w
        ),
        per AS (
            SELECT b.period_start, m.cluster_id, sum(t.plays)::bigint AS plays
            FROM marts.agg_daily_track_plays t
            JOIN members m ON m.artist_id = t.primary_artist_id
            JOIN buckets b ON b.local_date = t.local_date
            WHERE t.user_id = :u AND t.local_date BETWEEN :s AND :e AND t.plays > 0
            GROUP BY b.period_start, m.cluster_id
        )
        SELECT period_start, cluster_id, plays,
               plays::float8 / nullif(sum(plays) OVER (PARTITION BY period_start), 0) AS share
        FROM per
        ORDER BY period_start, cluster_id
        """,
        {"u": user_id, "w": window_name, "s": span.start_date, "e": span.end_date, "grain": grain.value},
    )


def mix(user_id: UUID, window_name: str, span: Span) -> Query:
    """cluster_id, top_artists (json), plays, share (0-1 of the period's clustered plays): how a period's plays split
    over one stored clustering's clusters, most played first."""
    return Query(
        """
        WITH members AS (
            SELECT artist_id, cluster_id FROM marts.fct_taste_cluster_artists WHERE user_id = :u AND window_name = :w
        ),
        per AS (
            SELECT m.cluster_id, sum(t.plays)::bigint AS plays
            FROM marts.agg_daily_track_plays t
            JOIN members m ON m.artist_id = t.primary_artist_id
            WHERE t.user_id = :u AND t.local_date BETWEEN :s AND :e AND t.plays > 0
            GROUP BY m.cluster_id
        )
        SELECT per.cluster_id, c.top_artists, c.distinguishing, per.plays,
               per.plays::float8 / nullif(sum(per.plays) OVER (), 0) AS share
        FROM per
        JOIN marts.fct_taste_clusters c ON c.user_id = :u AND c.window_name = :w AND c.cluster_id = per.cluster_id
        ORDER BY per.plays DESC, per.cluster_id
        """,
        {"u": user_id, "w": window_name, "s": span.start_date, "e": span.end_date},
    )
