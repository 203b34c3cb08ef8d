"""`history.artist_history` and `history.track_history`: one artist's or track's story — first and last play,
plays and minutes per month, rank among the user's artists (tracks) each month, "eras" (runs of months in the top
5) and, for an artist, their most played tracks."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from uuid import UUID

from pydantic import BaseModel, Field

from core.marts import artists as artist_queries
from core.marts import plays as play_queries
from core.marts import timeline as queries
from core.marts.listening import minutes
from serve.tools import repository as repo
from serve.tools.models import AnswerMeta, TrackCount, WindowArgs
from serve.tools.registry import ToolContext
from serve.tools.scope import Scope, coverage_of, covers_all_history, open_scope, track_counts, window_of
from serve.tools.subjects import Play, Subject, all_time_unless_given, find_subject, play, require_story_marts
from serve.tools.windows import Span, window_model


class ArtistHistoryArgs(WindowArgs):
    artist: str = Field(min_length=1, max_length=200, description="The artist's name (or Spotify id).")
    limit: int = Field(default=10, ge=1, le=50, description="How many top tracks.")


class TrackHistoryArgs(WindowArgs):
    track: str = Field(min_length=1, max_length=200, description="The track's title (or Spotify id).")
    artist: str | None = Field(default=None, max_length=200, description="Its artist, when the title is ambiguous.")


class MonthPoint(BaseModel):
    month: str = Field(description="YYYY-MM (user's zone).")
    plays: int
    listening_minutes: float
    rank: int = Field(description="Rank among everything played that month (1 = most played).")
    of: int = Field(description="How many artists (tracks) were played that month.")


class EraOut(BaseModel):
    start_month: str
    end_month: str
    months: int
    best_rank: int
    plays: int


class SubjectHistory(AnswerMeta):
    subject: Subject
    first_play: Play | None = Field(description="First play ever (all time, whatever the window).")
    last_play: Play | None = Field(description="Latest play ever.")
    days_played: int = Field(description="Days with a play, all time.")
    first_week_plays: int = Field(description="Plays in the 7 days from the first play.")
    plays: int = Field(description="Plays in the window.")
    listening_minutes: float = Field(description="Listening minutes in the window.")
    months: list[MonthPoint] = Field(description="Calendar months of the window with a play, oldest first.")
    peak_month: MonthPoint | None = Field(description="The month with the most plays.")
    eras: list[EraOut] = Field(description="Runs of consecutive months in the top 5, oldest first.")


class ArtistHistory(SubjectHistory):
    top_tracks: list[TrackCount] = Field(description="The artist's most played tracks in the window.")


def _month_text(day: date) -> str:
    return day.strftime("%Y-%m")


def _day_bounds(scope: Scope, day: date) -> tuple[str, str]:
    start = datetime.combine(day, time.min, tzinfo=scope.zone)
    return start.isoformat(), datetime.combine(day + timedelta(days=1), time.min, tzinfo=scope.zone).isoformat()


async def _edge(context: ToolContext, scope: Scope, subject: Subject, day: date | None, *, last: bool) -> Play | None:
    if day is None:
        return None
    start, end = _day_bounds(scope, day)
    row = await repo.fetch_one(
        context.session,
        play_queries.edge_play(scope.user_id, subject.kind, subject.id, start=start, end=end, last=last),
    )
    return None if row is None else play(row, scope.zone)


async def _history(
    context: ToolContext, scope: Scope, window: Span, subject: Subject, limit: int = 10
) -> tuple[SubjectHistory, list[TrackCount]]:
    session = context.session
    firsts = await repo.fetch_one(session, play_queries.subject_firsts(scope.user_id, subject.kind, subject.id))
    rows = await repo.fetch_all(
        session,
        queries.months(
            scope.user_id, subject.kind, subject.id, window.start_date.replace(day=1), window.end_date.replace(day=1)
        ),
    )
    found = [
        queries.Month(row["month_start"], int(row["plays"]), int(row["ms_played"]), int(row["rank"]), int(row["of"]))
        for row in rows
    ]
    points = [
        MonthPoint(
            month=_month_text(item.month_start),
            plays=item.plays,
            listening_minutes=minutes(item.ms_played),
            rank=item.rank,
            of=item.of,
        )
        for item in found
    ]
    if firsts is not None and covers_all_history(scope, window):
        # The window holds every day of the history: the all-time totals of agg_first_plays are the sum of the
        # window's per-day rows (same answer, no pass over them).
        plays, ms = int(firsts["plays"]), int(firsts["ms_played"])
    else:
        totals = await repo.fetch_one(
            session,
            play_queries.subject_totals(scope.user_id, subject.kind, subject.id, window.start_date, window.end_date),
        )
        plays, ms = (int(totals["plays"]), int(totals["ms"])) if totals else (0, 0)
    tracks: list[TrackCount] = []
    if subject.kind == "artist":
        top = await repo.fetch_all(session, artist_queries.top_tracks(scope.user_id, subject.id, window, limit))
        tracks = track_counts([repo.track_row(row) for row in top], plays)
    peak = max(points, key=lambda point: (point.plays, point.listening_minutes), default=None)
    history = SubjectHistory(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        subject=subject,
        first_play=await _edge(context, scope, subject, firsts["first_date"] if firsts else None, last=False),
        last_play=await _edge(context, scope, subject, firsts["last_date"] if firsts else None, last=True),
        days_played=int(firsts["days_played"]) if firsts else 0,
        first_week_plays=int(firsts["first_week_plays"]) if firsts else 0,
        plays=plays,
        listening_minutes=minutes(ms),
        months=points,
        peak_month=peak,
        eras=[
            EraOut(
                start_month=_month_text(era.start_month),
                end_month=_month_text(era.end_month),
                months=era.months,
                best_rank=era.best_rank,
                plays=era.plays,
            )
            for era in queries.eras(found)
        ],
    )
    return history, tracks


async def artist_history(context: ToolContext, args: ArtistHistoryArgs, user_id: UUID) -> ArtistHistory:
    scope = await open_scope(context, user_id)
    await require_story_marts(context)
    window = window_of(scope, all_time_unless_given(args))
    subject = await find_subject(context, scope, "artist", args.artist, field="artist")
    history, tracks = await _history(context, scope, window, subject, args.limit)
    return ArtistHistory(**dict(history), top_tracks=tracks)


async def track_history(context: ToolContext, args: TrackHistoryArgs, user_id: UUID) -> SubjectHistory:
    scope = await open_scope(context, user_id)
    await require_story_marts(context)
    window = window_of(scope, all_time_unless_given(args))
    artist_id = None
    if args.artist is not None:
        artist_id = (await find_subject(context, scope, "artist", args.artist, field="artist")).id
    subject = await find_subject(context, scope, "track", args.track, field="track", artist_id=artist_id)
    history, _ = await _history(context, scope, window, subject)
    return history
