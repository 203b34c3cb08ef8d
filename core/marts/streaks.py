"""Runs of consecutive days with a play (`fct_listening_streaks`): the longest of a window (runs clipped to it),
and the runs still going on (ending today or yesterday: today may not have been played yet)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal
from uuid import UUID

from core.marts.sql import Query

type StreakKind = Literal["all", "artist", "track"]


def longest(user_id: UUID, kind: StreakKind, start: date, end: date, limit: int, *, whole: bool) -> Query:
    """subject_id, start_date, end_date, days of the longest runs inside the local days start..end (runs that
    cross an edge are cut to the window); `whole`: the window covers every run (read by the index on days)."""
    if whole:
        return Query(
            """
            SELECT subject_id, start_date, end_date, days FROM marts.fct_listening_streaks
            WHERE user_id = :u AND subject_kind = :k
            ORDER BY days DESC, end_date DESC, subject_id LIMIT :limit
            """,
            {"u": user_id, "k": kind, "limit": limit},
        )
    return Query(
        """
        SELECT subject_id, greatest(start_date, :s) AS start_date, least(end_date, :e) AS end_date,
               (least(end_date, :e) - greatest(start_date, :s) + 1)::int AS days
        FROM marts.fct_listening_streaks
        WHERE user_id = :u AND subject_kind = :k AND end_date >= :s AND start_date <= :e
        ORDER BY days DESC, end_date DESC, subject_id LIMIT :limit
        """,
        {"u": user_id, "k": kind, "s": start, "e": end, "limit": limit},
    )


def current(user_id: UUID, kind: StreakKind, today: date, limit: int) -> Query:
    """subject_id, start_date, end_date, days of the runs that end today or yesterday, longest first."""
    return Query(
        """
        SELECT subject_id, start_date, end_date, days FROM marts.fct_listening_streaks
        WHERE user_id = :u AND subject_kind = :k AND end_date >= :since AND end_date <= :today
        ORDER BY days DESC, subject_id LIMIT :limit
        """,
        {"u": user_id, "k": kind, "since": today - timedelta(days=1), "today": today, "limit": limit},
    )
