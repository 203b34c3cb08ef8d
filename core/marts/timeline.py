"""An artist's or a track's story over time: plays, listening time and rank per calendar month (the monthly marts,
one row per month with a play), and the "eras" — runs of consecutive months in the user's top 5."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from core.marts.plays import SubjectKind
from core.marts.sql import Query

ERA_TOP = 5


def months(user_id: UUID, kind: SubjectKind, subject_id: str, first_month: date, last_month: date) -> Query:
    """month_start, plays, ms_played, rank, of (artists or tracks with a play that month) for every month from
    `first_month` to `last_month` in which the subject has a play."""
    table, column, count = (
        ("agg_monthly_artist_plays", "artist_id", "artists")
        if kind == "artist"
        else ("agg_monthly_track_plays", "track_id", "tracks")
    )
    return Query(
        f"""
        SELECT month_start, plays, ms_played, rank, {count} AS of
        FROM marts.{table}
        WHERE user_id = :u AND {column} = :id AND month_start BETWEEN :s AND :e
        ORDER BY month_start
        """,
        {"u": user_id, "id": subject_id, "s": first_month, "e": last_month},
    )


@dataclass(frozen=True, slots=True)
class Month:
    month_start: date
    plays: int
    ms_played: int
    rank: int
    of: int


@dataclass(frozen=True, slots=True)
class Era:
    start_month: date
    end_month: date
    months: int
    best_rank: int
    plays: int


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def eras(found: list[Month], top: int = ERA_TOP) -> list[Era]:
    """Runs of consecutive calendar months in which the subject ranked in the top `top`, in order."""
    runs: list[list[Month]] = []
    for month in found:
        if month.rank > top:
            continue
        if runs and _next_month(runs[-1][-1].month_start) == month.month_start:
            runs[-1].append(month)
        else:
            runs.append([month])
    return [
        Era(
            start_month=run[0].month_start,
            end_month=run[-1].month_start,
            months=len(run),
            best_rank=min(item.rank for item in run),
            plays=sum(item.plays for item in run),
        )
        for run in runs
    ]
