"""`history.streaks` (runs of consecutive listening days: overall, per artist, per track; what is on repeat now)
and `history.sessions` (listening sessions split by a gap; the longest; typical length by weekday and hour)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, computed_field

from core.marts import plays as play_queries
from core.marts import sessions as session_queries
from core.marts import streaks as queries
from core.marts.listening import WEEKDAYS
from core.marts.plays import SubjectKind
from core.marts.sql import Query
from core.marts.streaks import StreakKind
from serve.tools import repository as repo
from serve.tools.errors import InvalidArguments
from serve.tools.models import AnswerMeta, TrackCount, WindowArgs, spotify_link
from serve.tools.registry import ToolContext
from serve.tools.scope import Scope, coverage_of, covers_all_history, open_scope, track_counts, window_of
from serve.tools.subjects import all_time_unless_given, require_story_marts
from serve.tools.windows import Span, make_window, window_model


class StreaksArgs(WindowArgs):
    limit: int = Field(default=5, ge=1, le=20, description="How many streaks per list.")
    repeat_days: int = Field(default=14, ge=1, le=90, description="'On repeat': the last N days (default 14).")


class Streak(BaseModel):
    kind: StreakKind
    id: str | None = Field(description="Artist or track id (null for overall).")
    name: str | None
    artist_name: str | None
    start_date: date
    end_date: date
    days: int
    current: bool = Field(description="Ends today or yesterday: still going.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return None if self.kind == "all" else spotify_link(self.kind, self.id)


class Streaks(AnswerMeta):
    longest: list[Streak] = Field(description="Longest runs of days with any play in the window.")
    current: Streak | None = Field(description="The run going on now (null when neither today nor yesterday).")
    longest_artists: list[Streak]
    longest_tracks: list[Streak]
    current_artists: list[Streak] = Field(description="Artists played every day up to today or yesterday.")
    current_tracks: list[Streak]
    on_repeat: list[TrackCount] = Field(description="Most played tracks of the last `repeat_days` days.")


async def _names(context: ToolContext, user_id: UUID, kind: SubjectKind, ids: list[str]) -> dict[str, dict[str, Any]]:
    """id -> {name, artist_name} of the streaks' artists or tracks."""
    if not ids:
        return {}
    if kind == "artist":
        names = await repo.artist_names(context.session, user_id, ids)
        return {key: {"name": value, "artist_name": value} for key, value in names.items()}
    rows = await repo.fetch_all(context.session, play_queries.track_names(user_id, ids))
    return {row["track_id"]: row for row in rows}


async def _streaks(context: ToolContext, scope: Scope, kind: StreakKind, rows: list[dict[str, Any]]) -> list[Streak]:
    names: dict[str, dict[str, Any]] = {}
    if kind != "all":
        names = await _names(context, scope.user_id, kind, [str(row["subject_id"]) for row in rows])
    since = scope.today - timedelta(days=1)
    return [
        Streak(
            kind=kind,
            id=row["subject_id"],
            name=names.get(row["subject_id"], {}).get("name"),
            artist_name=names.get(row["subject_id"], {}).get("artist_name") if kind == "track" else None,
            start_date=row["start_date"],
            end_date=row["end_date"],
            days=int(row["days"]),
            current=since <= row["end_date"] <= scope.today,
        )
        for row in rows
    ]


async def streaks(context: ToolContext, args: StreaksArgs, user_id: UUID) -> Streaks:
    scope = await open_scope(context, user_id)
    await require_story_marts(context)
    window = window_of(scope, all_time_unless_given(args))
    whole = covers_all_history(scope, window)
    session = context.session

    async def longest(kind: StreakKind) -> list[Streak]:
        query = queries.longest(user_id, kind, window.start_date, window.end_date, args.limit, whole=whole)
        return await _streaks(context, scope, kind, await repo.fetch_all(session, query))

    async def current(kind: StreakKind, limit: int) -> list[Streak]:
        rows = await repo.fetch_all(session, queries.current(user_id, kind, scope.today, limit))
        return await _streaks(context, scope, kind, rows)

    overall = await current("all", 1)
    recent = make_window("on_repeat", scope.today - timedelta(days=args.repeat_days - 1), scope.today, scope.zone,
                         scope.today)  # fmt: skip
    recent_span = window_of(scope, WindowArgs(start=recent.start_date, end=recent.end_date))
    repeat_rows = await repo.top_tracks(session, user_id, recent_span, args.limit)
    repeat_total = (await repo.totals(session, user_id, recent_span)).plays
    return Streaks(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        longest=await longest("all"),
        current=overall[0] if overall else None,
        longest_artists=await longest("artist"),
        longest_tracks=await longest("track"),
        current_artists=await current("artist", args.limit),
        current_tracks=await current("track", args.limit),
        on_repeat=track_counts(repeat_rows, repeat_total),
    )


class SessionsArgs(WindowArgs):
    gap_minutes: int = Field(
        default=session_queries.DEFAULT_GAP_MINUTES,
        ge=5,
        le=240,
        description="A pause longer than this starts a new session (default 30; others need windows of ≤ 92 days).",
    )
    limit: int = Field(default=5, ge=1, le=20, description="How many longest sessions.")


class Session(BaseModel):
    started_at: datetime
    ended_at: datetime
    local_start: str = Field(description="Start in the user's zone (YYYY-MM-DD HH:MM).")
    minutes: float
    plays: int
    tracks: int


class TypicalLength(BaseModel):
    key: int = Field(description="ISO weekday (1 = Monday) or local hour.")
    label: str
    sessions: int
    median_minutes: float


class Sessions(AnswerMeta):
    gap_minutes: int
    sessions: int
    total_minutes: float
    median_minutes: float | None
    average_minutes: float | None
    longest: list[Session]
    by_weekday: list[TypicalLength] = Field(description="Sessions and median length by weekday of their start.")
    by_hour: list[TypicalLength] = Field(description="Sessions and median length by local hour of their start.")


async def sessions(context: ToolContext, args: SessionsArgs, user_id: UUID) -> Sessions:
    scope = await open_scope(context, user_id)
    await require_story_marts(context)
    window = window_of(scope, args)
    if args.gap_minutes != session_queries.DEFAULT_GAP_MINUTES and window.days > session_queries.LIVE_MAX_DAYS:
        raise InvalidArguments.field(
            "gap_minutes",
            f"a gap other than {session_queries.DEFAULT_GAP_MINUTES} is computed on the fly for windows of at most "
            f"{session_queries.LIVE_MAX_DAYS} days; shorten the window or use the default gap",
        )
    row = await repo.fetch_one(context.session, _summary(scope, window, args))
    assert row is not None
    longest = repo.json_list(row["longest"])
    return Sessions(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        gap_minutes=args.gap_minutes,
        sessions=int(row["sessions"]),
        total_minutes=round(float(row["minutes"]), 1),
        median_minutes=None if row["median_minutes"] is None else round(float(row["median_minutes"]), 1),
        average_minutes=None if row["avg_minutes"] is None else round(float(row["avg_minutes"]), 1),
        longest=[_session(item, scope) for item in longest],
        by_weekday=[
            TypicalLength(
                key=int(item["weekday"]),
                label=WEEKDAYS[int(item["weekday"]) - 1],
                sessions=int(item["sessions"]),
                median_minutes=round(float(item["median_minutes"]), 1),
            )
            for item in repo.json_list(row["by_weekday"])
        ],
        by_hour=[
            TypicalLength(
                key=int(item["hour"]),
                label=f"{int(item['hour']):02d}:00",
                sessions=int(item["sessions"]),
                median_minutes=round(float(item["median_minutes"]), 1),
            )
            for item in repo.json_list(row["by_hour"])
        ],
    )


def _summary(scope: Scope, window: Span, args: SessionsArgs) -> Query:
    return session_queries.summary(
        scope.user_id,
        window.start_date,
        window.end_date,
        (window.start.isoformat(), window.end.isoformat()),
        args.gap_minutes,
        args.limit,
    )


def _session(item: dict[str, Any], scope: Scope) -> Session:
    started = datetime.fromisoformat(str(item["started_at"]))
    return Session(
        started_at=started,
        ended_at=datetime.fromisoformat(str(item["ended_at"])),
        local_start=started.astimezone(scope.zone).strftime("%Y-%m-%d %H:%M"),
        minutes=float(item["minutes"]),
        plays=int(item["plays"]),
        tracks=int(item["tracks"]),
    )
