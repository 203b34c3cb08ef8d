"""What was discovered in a window, from `agg_first_plays` (first local day with a play per artist and track):
artists and tracks first heard in it, "love at first sight" (many plays in the first 7 days) and "slow burns"
(known long before the window, among its most played)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from core.marts import rankings
from core.marts.plays import SubjectKind
from core.marts.rankings import ARTIST_NAMES, TRACK_NAMES
from core.marts.sql import Query
from core.marts.windows import Span

# Slow burns are looked for among the window's most played artists.
SLOW_BURN_CANDIDATES = 200


def counts(user_id: UUID, start: date, end: date) -> Query:
    """One row: new_artists, new_tracks — first played in the local days start..end (index range)."""
    return Query(
        """
        SELECT count(*) FILTER (WHERE subject_kind = 'artist') AS new_artists,
               count(*) FILTER (WHERE subject_kind = 'track') AS new_tracks
        FROM marts.agg_first_plays
        WHERE user_id = :u AND subject_kind IN ('artist', 'track') AND first_date BETWEEN :s AND :e
        """,
        {"u": user_id, "s": start, "e": end},
    )


def _named(kind: SubjectKind, source: str) -> str:
    if kind == "artist":
        return ARTIST_NAMES.format(source=source)
    return TRACK_NAMES.format(source=source)


def firsts(user_id: UUID, kind: SubjectKind, start: date, end: date, limit: int, *, to_latest: bool) -> Query:
    """<kind>_id, artist_id, plays (in the window), ms, name (and artist_name for tracks), first_date,
    first_week_plays of the subjects first played in the window, most played there first.

    `to_latest`: the window reaches the user's last day with data, so a subject first played in it has all its
    plays in it and the all-time totals answer (index range only); otherwise the window's per-day rows of the
    new subjects are summed."""
    column = "primary_artist_id" if kind == "artist" else "track_id"
    if to_latest:
        totals = """
            SELECT subject_id, artist_id, plays, ms_played AS ms, first_date, first_week_plays
            FROM marts.agg_first_plays
            WHERE user_id = :u AND subject_kind = :k AND first_date BETWEEN :s AND :e
            ORDER BY plays DESC, ms_played DESC, subject_id LIMIT :limit"""
    else:
        totals = f"""
            SELECT f.subject_id, max(f.artist_id) AS artist_id, sum(t.plays)::bigint AS plays,
                   sum(t.ms_played)::bigint AS ms, min(f.first_date) AS first_date,
                   max(f.first_week_plays) AS first_week_plays
            FROM marts.agg_first_plays f
            JOIN marts.agg_daily_track_plays t
              ON t.user_id = f.user_id AND t.{column} = f.subject_id AND t.local_date BETWEEN :s AND :e
            WHERE f.user_id = :u AND f.subject_kind = :k AND f.first_date BETWEEN :s AND :e
            GROUP BY f.subject_id
            ORDER BY plays DESC, ms DESC, f.subject_id LIMIT :limit"""
    ids = "subject_id AS artist_id" if kind == "artist" else "subject_id AS track_id, artist_id"
    source = f"(SELECT {ids}, plays, ms, first_date, first_week_plays FROM ({totals}) n)"
    named = _named(kind, source).replace("SELECT x.", "SELECT x.first_date, x.first_week_plays, x.", 1)
    return Query(
        named + f" ORDER BY x.plays DESC, x.ms DESC, x.{kind}_id",
        {"u": user_id, "k": kind, "s": start, "e": end, "limit": limit},
    )


def love_at_first_sight(user_id: UUID, kind: SubjectKind, start: date, end: date, min_plays: int, limit: int) -> Query:
    """The subjects first played in the window with at least `min_plays` plays in their first 7 days: as
    `firsts`, plays being all-time plays, most first-week plays first."""
    ids = "subject_id AS artist_id" if kind == "artist" else "subject_id AS track_id, artist_id"
    source = f"""(
        SELECT {ids}, plays, ms_played AS ms, first_date, first_week_plays FROM marts.agg_first_plays
        WHERE user_id = :u AND subject_kind = :k AND first_date BETWEEN :s AND :e AND first_week_plays >= :n
        ORDER BY first_week_plays DESC, plays DESC, subject_id LIMIT :limit)"""
    named = _named(kind, source).replace("SELECT x.", "SELECT x.first_date, x.first_week_plays, x.", 1)
    return Query(
        named + f" ORDER BY x.first_week_plays DESC, x.plays DESC, x.{kind}_id",
        {"u": user_id, "k": kind, "s": start, "e": end, "n": min_plays, "limit": limit},
    )


def slow_burns(
    user_id: UUID, span: Span, known_before: date, limit: int, *, years: rankings.Years | None = None
) -> Query:
    """artist_id, plays (in the window), ms, name, first_date, first_week_plays of the window's most played
    artists first played before `known_before` (long before the window); `years`: the window's whole calendar
    years (`rankings.whole_years`), read from the yearly mart."""
    source = f"""(
        SELECT w.artist_id, w.plays, w.ms, f.first_date, f.first_week_plays
        FROM ({rankings.artist_totals(False, years)}
              ORDER BY plays DESC, ms DESC, artist_id LIMIT {SLOW_BURN_CANDIDATES}) w
        JOIN marts.agg_first_plays f
          ON f.user_id = :u AND f.subject_kind = 'artist' AND f.subject_id = w.artist_id
        WHERE f.first_date < :before
        ORDER BY w.plays DESC, w.ms DESC, w.artist_id LIMIT :limit)"""
    named = ARTIST_NAMES.format(source=source).replace("SELECT x.", "SELECT x.first_date, x.first_week_plays, x.", 1)
    return Query(
        named + " ORDER BY x.plays DESC, x.ms DESC, x.artist_id",
        {**rankings.window_params(user_id, span, years), "before": known_before, "limit": limit},
    )
