"""`history.recap`: a "Wrapped" for any period — a year, a month, a range — with its top artists, tracks and
albums, what was discovered, the busiest day, the longest streak, the listening clock, the taste mix, and how it
compares with the period just before (the same equal-span rule as history.compare_periods)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from core.marts import compare as comparing
from core.marts import discoveries as discovery_queries
from core.marts import rankings
from core.marts import recap as queries
from core.marts import windows as shared_windows
from core.marts.listening import minutes
from core.marts.windows import make_span
from serve.tools import repository as repo
from serve.tools.clusters import clusters_of
from serve.tools.errors import InvalidArguments
from serve.tools.listening import heatmap_of
from serve.tools.models import AnswerMeta, ArtistCount, TrackCount, WindowArgs
from serve.tools.registry import ToolContext
from serve.tools.scope import (
    Scope,
    artist_counts,
    coverage_of,
    covers_all_history,
    open_scope,
    reads_all_time_marts,
    track_counts,
    window_of,
)
from serve.tools.subjects import require_story_marts
from serve.tools.windows import Period, Span, Window, window_model


class RecapArgs(WindowArgs):
    year: int | None = Field(default=None, ge=1900, le=2999, description="A calendar year, e.g. 2024.")
    month: int | None = Field(default=None, ge=1, le=12, description="A month of `year`.")
    limit: int = Field(default=5, ge=1, le=20, description="How many top items per list.")

    @model_validator(mode="after")
    def _month_needs_year(self) -> RecapArgs:
        if self.month is not None and self.year is None:
            raise ValueError("`month` needs `year`")
        return self


class AlbumCount(BaseModel):
    name: str
    artist_name: str | None
    plays: int
    listening_minutes: float
    tracks: int


class DayFigure(BaseModel):
    date: date
    plays: int
    listening_minutes: float


class Run(BaseModel):
    start_date: date
    end_date: date
    days: int


class Clock(BaseModel):
    hour_plays: list[int] = Field(description="Plays per local hour 0..23.")
    peak_hour: int | None
    peak_weekday: str | None


class MixItem(BaseModel):
    label: str
    share_of_plays: float


class Previous(BaseModel):
    window: Window
    plays: int
    listening_minutes: float
    plays_change_pct: float | None
    minutes_change_pct: float | None
    note: str = Field(description="Which spans were compared.")


class Recap(AnswerMeta):
    title: str
    plays: int
    listening_minutes: float
    unique_tracks: int
    unique_artists: int
    top_artists: list[ArtistCount]
    top_tracks: list[TrackCount]
    top_albums: list[AlbumCount]
    new_artists: int = Field(description="Artists first played in the period.")
    new_tracks: int = Field(description="Tracks first played in the period.")
    top_new_artists: list[ArtistCount]
    busiest_day: DayFigure | None
    longest_streak: Run | None = Field(description="Longest run of consecutive days with a play.")
    clock: Clock
    taste_mix: list[MixItem] = Field(description="Taste clusters' shares (empty when none are precomputed).")
    previous: Previous


def recap_window(scope: Scope, args: RecapArgs) -> Span:
    if args.year is None:
        given = args.days is not None or args.start is not None or args.end is not None or args.period is not None
        return window_of(scope, args if given else args.model_copy(update={"period": Period.this_year}))
    if args.days is not None or args.start is not None or args.end is not None or args.period is not None:
        raise InvalidArguments.field("year", "give `year` (and `month`) or days/start/end/period, not both")
    if args.month is None:
        return shared_windows.year_span(args.year, scope.zone, scope.today)
    first = date(args.year, args.month, 1)
    last = date(args.year + args.month // 12, args.month % 12 + 1, 1).toordinal() - 1
    end = min(date.fromordinal(last), max(scope.today, first))
    return make_span(f"{args.year}-{args.month:02d}", first, end, scope.zone, scope.today)


async def recap(context: ToolContext, args: RecapArgs, user_id: UUID) -> Recap:
    scope = await open_scope(context, user_id)
    await require_story_marts(context)
    window = recap_window(scope, args)
    session = context.session
    all_time = reads_all_time_marts(scope, window)
    years = None if all_time else rankings.whole_years(window, scope.bounds.last_date)
    stored = queries.stored_summary(user_id, args.limit, all_time=all_time, years=years)
    summary = (await repo.stored_summary(session, stored) if stored else None) or await repo.window_summary(
        session, user_id, window, args.limit, all_time=all_time, albums=True, years=years
    )
    totals = await repo.totals(session, user_id, window)
    albums = summary.top_albums
    new = await repo.fetch_one(session, discovery_queries.counts(user_id, window.start_date, window.end_date))
    if covers_all_history(scope, window):  # every artist of the whole history is new in it
        new_rows = summary.top_artists
    else:
        to_latest = scope.bounds.last_date is not None and window.end_date >= scope.bounds.last_date
        found = await repo.fetch_all(
            session,
            discovery_queries.firsts(
                user_id, "artist", window.start_date, window.end_date, args.limit, to_latest=to_latest
            ),
        )
        new_rows = [repo.ArtistRow(row["artist_id"], int(row["plays"]), int(row["ms"]), row["name"]) for row in found]
    busiest = await repo.fetch_one(session, queries.busiest_day(user_id, window))
    streak = await repo.fetch_one(session, queries.longest_streak(user_id, window))
    heatmap = await heatmap_of(context, scope, window)
    _, clusters = await clusters_of(context, scope, window, on_demand=False)
    return Recap(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        title=window.title,
        plays=summary.plays,
        listening_minutes=minutes(totals.ms_played),
        unique_tracks=summary.unique_tracks,
        unique_artists=summary.unique_artists,
        top_artists=artist_counts(summary.top_artists, summary.plays),
        top_tracks=track_counts(summary.top_tracks, summary.plays),
        top_albums=[
            AlbumCount(
                name=str(row["album"]),
                artist_name=row["artist_name"],
                plays=int(row["plays"]),
                listening_minutes=minutes(int(row["ms"])),
                tracks=int(row["tracks"]),
            )
            for row in albums
        ],
        new_artists=int(new["new_artists"]) if new else 0,
        new_tracks=int(new["new_tracks"]) if new else 0,
        top_new_artists=artist_counts(new_rows, summary.plays),
        busiest_day=None
        if busiest is None
        else DayFigure(
            date=busiest["local_date"],
            plays=int(busiest["plays"]),
            listening_minutes=minutes(int(busiest["ms_played"])),
        ),
        longest_streak=None
        if streak is None
        else Run(start_date=streak["start_date"], end_date=streak["end_date"], days=int(streak["days"])),
        clock=Clock(hour_plays=heatmap.hour_totals, peak_hour=heatmap.peak_hour, peak_weekday=heatmap.peak_weekday),
        taste_mix=[
            MixItem(label=str(row["label"]), share_of_plays=round(float(row["share_of_plays"]), 4)) for row in clusters
        ],
        previous=await _previous(context, scope, window, totals.plays, minutes(totals.ms_played)),
    )


def _day(row: dict[str, Any] | None) -> DayFigure | None:
    if row is None:
        return None
    return DayFigure(date=row["local_date"], plays=int(row["plays"]), listening_minutes=minutes(int(row["ms_played"])))


async def _previous(context: ToolContext, scope: Scope, window: Span, plays: int, listened: float) -> Previous:
    """The period just before, of equal length (cut to the same days when this one is under way). Plays and
    minutes come from the daily totals (one row per day), so the comparison costs next to nothing."""
    first, second = shared_windows.equal_spans(window, queries.previous_span(window))
    cut = (first, second) != (window, queries.previous_span(window))
    if first != window:  # this period was the longer one: compare its first days
        totals = await repo.totals(context.session, scope.user_id, first)
        plays, listened = totals.plays, minutes(totals.ms_played)
    before = await repo.totals(context.session, scope.user_id, second)
    before_minutes = minutes(before.ms_played)
    return Previous(
        window=window_model(second),
        plays=before.plays,
        listening_minutes=before_minutes,
        plays_change_pct=comparing.pct(plays, before.plays),
        minutes_change_pct=comparing.pct(listened, before_minutes),
        note=comparing.spans_note(first, second, cut=cut),
    )
