"""`history.discoveries` (artists and tracks first heard in a window, love at first sight, slow burns) and
`history.on_this_day` (what was played on this date in earlier years)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, computed_field

from core.marts import discoveries as queries
from core.marts import plays as play_queries
from core.marts import rankings
from core.marts.listening import minutes
from core.marts.plays import SubjectKind
from core.marts.windows import make_span
from serve.bounds import Day
from serve.tools import repository as repo
from serve.tools.models import AnswerMeta, ToolArgs, TrackCount, WindowArgs, spotify_link
from serve.tools.registry import ToolContext
from serve.tools.scope import coverage_of, covers_all_history, open_scope, track_counts, window_of
from serve.tools.subjects import require_story_marts
from serve.tools.windows import Period, window_model


class DiscoveriesArgs(WindowArgs):
    limit: int = Field(default=10, ge=1, le=50, description="How many per list.")
    love_plays: int = Field(
        default=5, ge=2, le=100, description="Love at first sight: at least this many plays in the first 7 days."
    )
    slow_burn_days: int = Field(
        default=180, ge=1, le=3650, description="Slow burn: first heard at least this many days before the window."
    )


class Found(BaseModel):
    kind: SubjectKind
    id: str
    name: str | None
    artist_name: str | None
    first_date: date = Field(description="First day with a play (user's zone).")
    first_week_plays: int = Field(description="Plays in the 7 days from first_date.")
    plays: int = Field(description="Plays in the window (all time for love at first sight).")
    listening_minutes: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link(self.kind, self.id)


class Discoveries(AnswerMeta):
    new_artists: int = Field(description="Artists first played in the window.")
    new_tracks: int = Field(description="Tracks first played in the window.")
    top_new_artists: list[Found] = Field(description="New artists, most played in the window first.")
    top_new_tracks: list[Found]
    love_at_first_sight: list[Found] = Field(description="New artists and tracks with many plays in their first week.")
    slow_burns: list[Found] = Field(description="Artists known long before the window, among its most played.")


def _found(kind: SubjectKind, row: dict[str, Any]) -> Found:
    artist_name = row.get("artist_name") if kind == "track" else None
    return Found(
        kind=kind,
        id=str(row[f"{kind}_id"]),
        name=row["name"],
        artist_name=artist_name,
        first_date=row["first_date"],
        first_week_plays=int(row["first_week_plays"]),
        plays=int(row["plays"]),
        listening_minutes=minutes(int(row["ms"])),
    )


async def discoveries(context: ToolContext, args: DiscoveriesArgs, user_id: UUID) -> Discoveries:
    scope = await open_scope(context, user_id)
    await require_story_marts(context)
    window = window_of(scope, args)
    session = context.session
    s, e = window.start_date, window.end_date
    counted = await repo.fetch_one(session, queries.counts(user_id, s, e))
    to_latest = scope.bounds.last_date is not None and e >= scope.bounds.last_date
    lists: dict[str, list[Found]] = {}
    kinds: tuple[SubjectKind, ...] = ("artist", "track")
    for kind in kinds:
        rows = await repo.fetch_all(session, queries.firsts(user_id, kind, s, e, args.limit, to_latest=to_latest))
        lists[kind] = [_found(kind, row) for row in rows]
    loved: list[Found] = []
    for kind in kinds:
        rows = await repo.fetch_all(
            session, queries.love_at_first_sight(user_id, kind, s, e, args.love_plays, args.limit)
        )
        loved += [_found(kind, row) for row in rows]
    loved.sort(key=lambda item: (-item.first_week_plays, -item.plays, item.kind, item.id))
    slow: list[Found] = []
    if not covers_all_history(scope, window):
        before = s - timedelta(days=args.slow_burn_days)
        years = rankings.whole_years(window, scope.bounds.last_date)
        slow = [
            _found("artist", row)
            for row in await repo.fetch_all(
                session, queries.slow_burns(user_id, window, before, args.limit, years=years)
            )
        ]
    return Discoveries(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        new_artists=int(counted["new_artists"]) if counted else 0,
        new_tracks=int(counted["new_tracks"]) if counted else 0,
        top_new_artists=lists["artist"],
        top_new_tracks=lists["track"],
        love_at_first_sight=loved[: args.limit],
        slow_burns=slow,
    )


class OnThisDayArgs(ToolArgs):
    date: Day | None = Field(default=None, description="The date (YYYY-MM-DD); default today in the user's zone.")
    limit: int = Field(default=5, ge=1, le=20, description="Top tracks per year.")


class YearOnThisDay(BaseModel):
    date: date
    years_ago: int
    plays: int
    listening_minutes: float
    top_tracks: list[TrackCount]


class OnThisDay(AnswerMeta):
    years: list[YearOnThisDay] = Field(description="Earlier years with plays on this date, most recent first.")


def _same_day(day: date, year: int) -> date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a common year
        return day.replace(year=year, day=28)


async def on_this_day(context: ToolContext, args: OnThisDayArgs, user_id: UUID) -> OnThisDay:
    scope = await open_scope(context, user_id)
    day = args.date or scope.today
    first = scope.bounds.first_date or day
    days = [_same_day(day, year) for year in range(day.year - 1, first.year - 1, -1)]
    texts = [item.isoformat() for item in days]
    totals = await repo.fetch_all(context.session, play_queries.days_summary(user_id, texts)) if days else []
    tracks = (
        await repo.fetch_all(context.session, play_queries.days_top_tracks(user_id, texts, args.limit)) if days else []
    )
    per_day: dict[date, list[repo.TrackRow]] = {}
    for row in tracks:
        per_day.setdefault(row["local_date"], []).append(repo.track_row(row))
    window = make_span(Period.all_time.value, min(first, day), max(day, scope.today), scope.zone, scope.today)
    return OnThisDay(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        years=[
            YearOnThisDay(
                date=row["local_date"],
                years_ago=day.year - row["local_date"].year,
                plays=int(row["plays"]),
                listening_minutes=minutes(int(row["ms_played"])),
                top_tracks=track_counts(per_day.get(row["local_date"], []), int(row["plays"])),
            )
            for row in totals
        ],
    )
