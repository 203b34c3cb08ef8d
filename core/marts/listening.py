"""How much and when: the extent of a history, window totals, time series, the weekday × hour heatmap and
coverage (which days have data, from which source, and the gaps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from core.marts.sql import Query
from core.marts.windows import Grain, Span

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# A run of days without data longer than this makes a window's coverage incomplete.
LONG_GAP_DAYS = 7


def bounds(user_id: UUID) -> Query:
    """first_date, last_date (local days with any listen), latest_play_at (newest listen)."""
    return Query(
        """
        SELECT (SELECT min(local_date) FROM marts.agg_daily_listening WHERE user_id = :u) AS first_date,
               (SELECT max(local_date) FROM marts.agg_daily_listening WHERE user_id = :u) AS last_date,
               (SELECT max(c.last_played_at) FROM marts.fct_coverage_daily c
                WHERE c.user_id = :u
                  AND c.local_date = (SELECT max(local_date) FROM marts.fct_coverage_daily
                                      WHERE user_id = :u)) AS latest_play_at
        """,
        {"u": user_id},
    )


def totals(user_id: UUID, span: Span) -> Query:
    """plays, listens, ms_played of music in the window."""
    return Query(
        """
        SELECT coalesce(sum(plays), 0)::bigint AS plays, coalesce(sum(listens), 0)::bigint AS listens,
               coalesce(sum(ms_played), 0)::bigint AS ms_played
        FROM marts.agg_daily_listening
        WHERE user_id = :u AND content_kind = 'track' AND local_date BETWEEN :s AND :e
        """,
        {"u": user_id, "s": span.start_date, "e": span.end_date},
    )


def minutes(ms: int) -> float:
    """Listening minutes as every face shows them (one decimal)."""
    return round(ms / 60_000, 1)


# Every local day of the window (`:s`..`:e`) with the first day of its bucket (`:grain`: day, week or month)
# inside the window, so that partial first weeks or months start on the window's first day.
BUCKETS = """
    SELECT day AS local_date, greatest(date_trunc(:grain, day::timestamp)::date, CAST(:s AS date)) AS period_start
    FROM (SELECT CAST(:s AS date) + i AS day
          FROM generate_series(0, CAST(:e AS date) - CAST(:s AS date)) AS i) AS days
"""


def series(user_id: UUID, span: Span, grain: Grain) -> Query:
    """Music per day, week (ISO, from Monday) or month of the window: period_start (the first day of the bucket
    inside the window), days (of the bucket inside the window), plays, ms_played, unique_tracks, unique_artists
    (tracks with a play, each under its largest primary artist, as the window's own unique counts)."""
    return Query(
        f"""
        WITH buckets AS ({BUCKETS}),
        listening AS (
            SELECT b.period_start, sum(l.plays)::bigint AS plays, sum(l.ms_played)::bigint AS ms_played
            FROM marts.agg_daily_listening l JOIN buckets b ON b.local_date = l.local_date
            WHERE l.user_id = :u AND l.content_kind = 'track' AND l.local_date BETWEEN :s AND :e
            GROUP BY b.period_start
        ),
        tracks AS (
            SELECT b.period_start, t.track_id, max(t.primary_artist_id) AS artist_id
            FROM marts.agg_daily_track_plays t JOIN buckets b ON b.local_date = t.local_date
            WHERE t.user_id = :u AND t.local_date BETWEEN :s AND :e AND t.plays > 0
            GROUP BY b.period_start, t.track_id
        ),
        uniques AS (
            SELECT period_start, count(*)::bigint AS unique_tracks, count(DISTINCT artist_id)::bigint AS unique_artists
            FROM tracks GROUP BY period_start
        )
        SELECT b.period_start, count(*)::bigint AS days, coalesce(max(l.plays), 0)::bigint AS plays,
               coalesce(max(l.ms_played), 0)::bigint AS ms_played,
               coalesce(max(q.unique_tracks), 0)::bigint AS unique_tracks,
               coalesce(max(q.unique_artists), 0)::bigint AS unique_artists
        FROM buckets b
        LEFT JOIN listening l ON l.period_start = b.period_start
        LEFT JOIN uniques q ON q.period_start = b.period_start
        GROUP BY b.period_start
        ORDER BY b.period_start
        """,
        {"u": user_id, "s": span.start_date, "e": span.end_date, "grain": grain.value},
    )


# ----- heatmap ----------------------------------------------------------------------------------------


def heatmap_cells(user_id: UUID, span: Span | None) -> Query:
    """weekday (ISO), hour, plays, ms_played of music; all time from `fct_listening_heatmap` when `span` is None
    (callers pass None when the window covers the whole history: the same numbers, one row per cell)."""
    if span is None:
        return Query(
            """
            SELECT local_weekday::int AS weekday, local_hour::int AS hour, plays::bigint AS plays,
                   ms_played::bigint AS ms_played
            FROM marts.fct_listening_heatmap WHERE user_id = :u
            """,
            {"u": user_id},
        )
    return Query(
        """
        SELECT local_weekday::int AS weekday, local_hour::int AS hour, sum(plays)::bigint AS plays,
               sum(ms_played)::bigint AS ms_played
        FROM marts.agg_hourly_listening
        WHERE user_id = :u AND local_date BETWEEN :s AND :e
        GROUP BY local_weekday, local_hour
        """,
        {"u": user_id, "s": span.start_date, "e": span.end_date},
    )


@dataclass(frozen=True, slots=True)
class HeatmapSummary:
    plays: int
    grid: list[list[int]]  # 7 rows (Monday..Sunday) of 24 hours
    weekday_totals: list[int]
    hour_totals: list[int]
    peak_weekday: str | None
    peak_hour: int | None


def summarize_heatmap(cells: list[tuple[int, int, int]]) -> HeatmapSummary:
    """(ISO weekday, hour, plays) cells -> the full grid, totals and peaks."""
    grid = [[0] * 24 for _ in range(7)]
    for weekday, hour, plays in cells:
        if 1 <= weekday <= 7 and 0 <= hour <= 23:
            grid[weekday - 1][hour] += plays
    weekday_totals = [sum(row) for row in grid]
    hour_totals = [sum(grid[weekday][hour] for weekday in range(7)) for hour in range(24)]
    total = sum(weekday_totals)
    return HeatmapSummary(
        plays=total,
        grid=grid,
        weekday_totals=weekday_totals,
        hour_totals=hour_totals,
        peak_weekday=WEEKDAYS[weekday_totals.index(max(weekday_totals))] if total else None,
        peak_hour=hour_totals.index(max(hour_totals)) if total else None,
    )


# ----- coverage ---------------------------------------------------------------------------------------


def coverage_days(user_id: UUID, span: Span) -> Query:
    """local_date, source, listens: one row per day and source with data in the window."""
    return Query(
        """
        SELECT local_date, source, listens::bigint AS listens FROM marts.fct_coverage_daily
        WHERE user_id = :u AND local_date BETWEEN :s AND :e
        ORDER BY local_date, source
        """,
        {"u": user_id, "s": span.start_date, "e": span.end_date},
    )


@dataclass(frozen=True, slots=True)
class Gap:
    start_date: date
    end_date: date
    days: int


@dataclass(frozen=True, slots=True)
class SourceDays:
    source: str
    days_with_data: int
    listens: int


@dataclass(frozen=True, slots=True)
class Coverage:
    window_days: int
    days_elapsed: int
    days_with_data: int
    coverage_ratio: float
    first_data_date: date | None
    last_data_date: date | None
    history_starts: date | None
    sources: list[SourceDays]
    largest_gaps: list[Gap]
    complete: bool
    note: str


def _gaps(present: set[date], start: date, end: date) -> list[Gap]:
    """Runs of days without data from `start` to `end`, longest first."""
    gaps: list[Gap] = []
    run_start: date | None = None
    day = start
    while day <= end:
        if day not in present and run_start is None:
            run_start = day
        if day in present and run_start is not None:
            gaps.append(Gap(start_date=run_start, end_date=day - timedelta(days=1), days=(day - run_start).days))
            run_start = None
        day += timedelta(days=1)
    if run_start is not None:
        gaps.append(Gap(start_date=run_start, end_date=end, days=(end - run_start).days + 1))
    gaps.sort(key=lambda gap: (-gap.days, gap.start_date))
    return gaps


def summarize_coverage(rows: list[tuple[date, str, int]], span: Span, history_starts: date | None) -> Coverage:
    """How complete a window is, from its `coverage_days` rows: days with data so far, per source, the largest
    gaps, and whether the figures can be presented as a full picture."""
    elapsed_end = min(span.end_date, span.today)
    days = sorted({day for day, _, _ in rows})
    per_source: dict[str, tuple[set[date], int]] = {}
    for day, source, listens in rows:
        seen, total = per_source.get(source, (set(), 0))
        seen.add(day)
        per_source[source] = (seen, total + listens)
    sources = [
        SourceDays(source=source, days_with_data=len(seen), listens=total)
        for source, (seen, total) in sorted(per_source.items())
    ]
    gaps = _gaps(set(days), span.start_date, elapsed_end)
    first, last = (days[0], days[-1]) if days else (None, None)
    return coverage_figures(span, history_starts, len(days), first, last, sources, gaps[:LARGEST_GAPS])


# How many of the largest gaps a coverage answer lists.
LARGEST_GAPS = 5


def coverage_summary(user_id: UUID, span: Span) -> Query:
    """One row, what `summarize_coverage` needs from the window's `coverage_days` rows, computed by the database
    (an all-time window at 1,000,000 plays has ~7,000 of them): days (with data), first_date, last_date, sources
    (json list of source, days, listens) and gaps (json list of the LARGEST_GAPS longest runs of days without data
    up to today: start_date, end_date, days; longest first, then earliest)."""
    return Query(
        f"""
        WITH rows AS (
            SELECT local_date, source, listens FROM marts.fct_coverage_daily
            WHERE user_id = :u AND local_date BETWEEN :s AND :e
        ),
        present AS (SELECT DISTINCT local_date FROM rows WHERE local_date <= :x),
        edges AS (
            SELECT local_date, lag(local_date) OVER (ORDER BY local_date) AS previous
            FROM (SELECT local_date FROM present UNION ALL SELECT CAST(:x AS date) + 1) AS d
        ),
        gaps AS (
            SELECT coalesce(previous + 1, CAST(:s AS date)) AS start_date, local_date - 1 AS end_date,
                   local_date - coalesce(previous + 1, CAST(:s AS date)) AS days
            FROM edges
        )
        SELECT (SELECT count(DISTINCT local_date) FROM rows) AS days,
               (SELECT min(local_date) FROM rows) AS first_date, (SELECT max(local_date) FROM rows) AS last_date,
               (SELECT json_agg(t ORDER BY t.source)
                FROM (SELECT source, count(DISTINCT local_date) AS days, sum(listens)::bigint AS listens
                      FROM rows GROUP BY source) t
               ) AS sources,
               (SELECT json_agg(g ORDER BY g.days DESC, g.start_date)
                FROM (SELECT * FROM gaps WHERE days > 0 ORDER BY days DESC, start_date LIMIT {LARGEST_GAPS}) g
               ) AS gaps
        """,
        {"u": user_id, "s": span.start_date, "e": span.end_date, "x": min(span.end_date, span.today)},
    )


def coverage_figures(
    span: Span,
    history_starts: date | None,
    days_with_data: int,
    first_data_date: date | None,
    last_data_date: date | None,
    sources: list[SourceDays],
    largest_gaps: list[Gap],
) -> Coverage:
    """The coverage answer from the window's counts (from its rows or `coverage_summary`): the ratio, whether it
    is complete, and the note saying so."""
    days_elapsed = span.days_elapsed
    starts_before_history = history_starts is None or span.start_date < history_starts
    longest = largest_gaps[0].days if largest_gaps else 0
    complete = days_elapsed > 0 and not starts_before_history and longest <= LONG_GAP_DAYS
    ratio = round(days_with_data / days_elapsed, 4) if days_elapsed else 0.0
    notes: list[str] = [f"Listens on {days_with_data} of {days_elapsed} days so far."]
    if days_elapsed == 0:
        notes = ["The window has not started yet."]
    if starts_before_history and history_starts is not None and days_elapsed:
        notes.append(
            f"The history starts on {history_starts.isoformat()}, after the window starts: totals are partial."
        )
    if longest > LONG_GAP_DAYS:
        gap = largest_gaps[0]
        notes.append(
            f"Longest gap: {gap.days} days ({gap.start_date.isoformat()} to {gap.end_date.isoformat()}), either no "
            "listening or data not collected."
        )
    if span.ongoing:
        notes.append("The window includes today, so it is not over.")
    notes.append("Complete enough to present as a full picture." if complete else "Present these figures as partial.")
    return Coverage(
        window_days=span.days,
        days_elapsed=days_elapsed,
        days_with_data=days_with_data,
        coverage_ratio=ratio,
        first_data_date=first_data_date,
        last_data_date=last_data_date,
        history_starts=history_starts,
        sources=sources,
        largest_gaps=largest_gaps,
        complete=complete,
        note=" ".join(notes),
    )
