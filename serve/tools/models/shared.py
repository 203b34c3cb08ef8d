"""What every tool family shares: the argument bases (whose data, which window), the answer's meta (window,
freshness, coverage, the play rule), ranked artists and tracks, and links to open.spotify.com.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field

from serve.bounds import Day
from serve.tools.windows import MAX_DAYS, Period, Window

PLAY_RULE = (
    "Counts are plays: listens of at least 30 seconds, or of unknown length (Spotify API plays). "
    "Music tracks only; podcasts, audiobooks and incognito listens are left out. Listening time sums every listen."
)

# Spotify's ids are 22 base-62 characters; the `local:<sha1>` ids of export-only items have no Spotify page.
SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")

type SpotifyKind = Literal["track", "artist", "album", "playlist"]


def spotify_link(kind: SpotifyKind, item_id: str | None) -> str | None:
    """The item's page on open.spotify.com (plays in the app or the browser), when Spotify knows the item."""
    if item_id is None or not SPOTIFY_ID.match(item_id):
        return None
    return f"https://open.spotify.com/{kind}/{item_id}"


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UUID | None = Field(
        default=None,
        # Published to the admin token only (serve/tools/schemas.py): a user token reads its own user's data.
        description="Whose data: the user's id. Needed unless the server has a single user.",
    )


class WindowArgs(ToolArgs):
    days: int | None = Field(
        default=None, ge=1, le=MAX_DAYS, description="Window of the last N days including today. Default 90."
    )
    start: Day | None = Field(default=None, description="First day (YYYY-MM-DD, user's time zone), with `end`.")
    end: Day | None = Field(default=None, description="Last day included (YYYY-MM-DD). Default today.")
    period: Period | None = Field(
        default=None,
        description="A named period in the user's time zone instead of days/start/end, e.g. this_month, last_month.",
    )


class LimitWindowArgs(WindowArgs):
    limit: int = Field(default=20, ge=1, le=100, description="How many to return.")


class Freshness(BaseModel):
    """How fresh the answer is: listens after the last warehouse rebuild are not counted yet."""

    last_transform_at: datetime | None = Field(description="When the warehouse was last rebuilt (null: never).")
    latest_play_at: datetime | None = Field(description="Newest listen of this user in the warehouse.")
    note: str


class SourceCoverage(BaseModel):
    source: str = Field(
        description="`spotify_api` (polled), `import_zip` (Spotify export), `listenbrainz` or `lastfm` (scrobbles)."
    )
    days_with_data: int
    listens: int


class Gap(BaseModel):
    start_date: date
    end_date: date
    days: int


class CoverageStats(BaseModel):
    """How complete the stored history is for the window; when `complete` is false the figures are partial."""

    window_days: int = Field(description="Days in the window.")
    days_elapsed: int = Field(description="Days of the window up to today.")
    days_with_data: int = Field(description="Days with at least one listen in the window.")
    coverage_ratio: float = Field(description="days_with_data / days_elapsed, 0-1.")
    first_data_date: date | None = Field(description="First day with data inside the window.")
    last_data_date: date | None = Field(description="Last day with data inside the window.")
    history_starts: date | None = Field(description="First day of this user's whole history.")
    sources: list[SourceCoverage]
    largest_gaps: list[Gap] = Field(description="Longest runs of days without any listen (up to 5).")
    complete: bool = Field(description="False when the window starts before the history or has long gaps.")
    note: str


class AnswerMeta(BaseModel):
    window: Window
    freshness: Freshness
    coverage: CoverageStats
    counting: str = Field(default=PLAY_RULE, description="How plays are counted.")


class ArtistCount(BaseModel):
    rank: int
    artist_id: str
    name: str | None
    plays: int
    listening_minutes: float
    share_of_plays: float = Field(description="Share of the window's plays, 0-1.")

    @computed_field(description="The artist on Spotify (null: known only by name).")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("artist", self.artist_id)


class TrackCount(BaseModel):
    rank: int
    track_id: str
    name: str | None
    artist_id: str | None
    artist_name: str | None
    plays: int
    listening_minutes: float
    share_of_plays: float = Field(description="Share of the window's plays, 0-1.")

    @computed_field(description="The track on Spotify (null: known only by name).")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("track", self.track_id)

    @computed_field(description="The artist on Spotify.")  # type: ignore[prop-decorator]
    @property
    def artist_spotify_url(self) -> str | None:
        return spotify_link("artist", self.artist_id)
