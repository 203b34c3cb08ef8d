"""What the story tools share: one play as an answer shows it, finding an artist or track by id or name, and the
check that the story marts exist (a warehouse built before they were added has to be rebuilt once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, computed_field
from sqlalchemy import text

from core.marts import plays as play_queries
from core.marts.plays import SubjectKind
from core.marts.windows import Period
from serve.tools import repository as repo
from serve.tools.errors import InvalidArguments, NoData
from serve.tools.models import WindowArgs, spotify_link
from serve.tools.registry import ToolContext
from serve.tools.scope import Scope

STORY_MARTS = ("agg_first_plays", "agg_monthly_artist_plays", "agg_monthly_track_plays", "agg_yearly_track_plays",
               "agg_yearly_recap", "fct_listening_streaks", "fct_listening_sessions")  # fmt: skip
MATCHES = 5


class Play(BaseModel):
    """One listen."""

    played_at: datetime = Field(description="End of playback (UTC).")
    local_time: str = Field(description="End of playback in the user's zone (YYYY-MM-DD HH:MM).")
    track_id: str
    track_name: str | None
    artist_id: str | None
    artist_name: str | None
    album_name: str | None
    ms_played: int | None = Field(description="Null for API plays (length unknown).")
    counts_as_play: bool
    source: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("track", self.track_id)


def play(row: dict[str, Any], zone: ZoneInfo) -> Play:
    played_at: datetime = row["played_at"]
    return Play(
        played_at=played_at,
        local_time=played_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        track_id=row["track_id"],
        track_name=row["track_name"],
        artist_id=row["artist_id"],
        artist_name=row["artist_name"],
        album_name=row["album_name"],
        ms_played=row["ms_played"],
        counts_as_play=bool(row["counts_as_play"]),
        source=str(row["source"]),
    )


class Subject(BaseModel):
    """The artist or track an answer is about, and other names that matched the request."""

    kind: SubjectKind
    id: str
    name: str | None
    artist_id: str | None
    artist_name: str | None
    plays: int = Field(description="All-time plays.")
    other_matches: list[str] = Field(description="Other names that matched; ask again with one to pick it.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link(self.kind, self.id)


async def require_story_marts(context: ToolContext) -> None:
    checks = ", ".join(f"to_regclass('marts.{name}') IS NOT NULL" for name in STORY_MARTS)
    found = (await context.session.execute(text(f"SELECT {checks}"))).one()
    if not all(found):
        missing = [name for name, ok in zip(STORY_MARTS, found, strict=True) if not ok]
        raise NoData(
            "the warehouse predates the story tools: run the transform once (`spotify-mcp transform`) to build them",
            details={
                "reason": "warehouse_outdated",
                "missing": missing,
            },
        )


async def find_subject(
    context: ToolContext, scope: Scope, kind: SubjectKind, wanted: str, *, field: str, artist_id: str | None = None
) -> Subject:
    """The user's artist or track whose id is `wanted`, else whose name is it (exactly, case-insensitive), else
    contains it — the most played first; `invalid_arguments` naming `field` when none is in the history."""
    if not wanted.strip():
        raise InvalidArguments.field(field, f"give the {kind}'s name or Spotify id")
    rows = await repo.fetch_all(
        context.session,
        play_queries.find_subjects(scope.user_id, kind, wanted, MATCHES + 1, artist_id=artist_id),
    )
    if not rows:
        raise InvalidArguments.field(
            field, f"no {kind} matching {wanted.strip()!r} in this user's history; check the spelling or use its id"
        )
    best = rows[0]
    return Subject(
        kind=kind,
        id=best["subject_id"],
        name=best["name"],
        artist_id=best["artist_id"],
        artist_name=best["artist_name"],
        plays=int(best["plays"]),
        other_matches=[_label(row) for row in rows[1:]],
    )


def _label(row: dict[str, Any]) -> str:
    name = row["name"] or row["subject_id"]
    if row["artist_name"] and row["artist_name"] != row["name"]:
        return f"{name} ({row['artist_name']})"
    return str(name)


def all_time_unless_given(args: WindowArgs) -> WindowArgs:
    """Story tools look at the whole history unless a window is given."""
    if args.days is None and args.start is None and args.end is None and args.period is None:
        return args.model_copy(update={"period": Period.all_time})
    return args
