"""Comparing two periods: each period's figures, the artists that moved, the ones new in the period."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field

from serve.bounds import Day
from serve.tools.models.shared import PLAY_RULE, ArtistCount, CoverageStats, Freshness, ToolArgs, spotify_link
from serve.tools.windows import Period, Window


class CompareArgs(ToolArgs):
    period: Period | None = Field(
        default=None, description="The period to look at (default this_month). Or give start/end instead."
    )
    start: Day | None = Field(default=None, description="First day of the period (YYYY-MM-DD), instead of `period`.")
    end: Day | None = Field(default=None, description="Last day of the period (YYYY-MM-DD). Default today.")
    compare_to: Period | None = Field(
        default=None,
        description="The period to compare with. Default: the one just before (this_month -> last month to date).",
    )
    compare_start: Day | None = Field(default=None, description="First day of the comparison period (YYYY-MM-DD).")
    compare_end: Day | None = Field(default=None, description="Last day of the comparison period (YYYY-MM-DD).")
    equal_spans: bool = Field(
        default=True,
        description=(
            "Equal spans (default): a period still under way is compared with as many first days of the other; "
            "false compares whole periods (use the per-day figures)."
        ),
    )
    limit: int = Field(default=10, ge=1, le=50, description="How many movers and new artists.")


class PeriodStats(BaseModel):
    window: Window
    plays: int
    listening_minutes: float
    unique_tracks: int
    unique_artists: int
    plays_per_day: float = Field(description="Plays per day of the window so far (one decimal).")
    minutes_per_day: float = Field(description="Listening minutes per day of the window so far (one decimal).")
    coverage: CoverageStats


class ArtistMove(BaseModel):
    artist_id: str
    name: str | None
    plays: int = Field(description="Plays in the period.")
    compare_plays: int = Field(description="Plays in the comparison period.")
    change: int
    rank: int | None
    compare_rank: int | None

    @computed_field(description="The artist on Spotify (null: known only by name).")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("artist", self.artist_id)


class Comparison(BaseModel):
    period: PeriodStats
    compare_to: PeriodStats
    equal_spans: bool = Field(description="Whether both periods have the same number of days.")
    spans_note: str = Field(description="Which spans were compared, in words (repeat it to the user).")
    plays_change: int
    plays_change_pct: float | None
    minutes_change: float
    minutes_change_pct: float | None
    top_movers: list[ArtistMove] = Field(description="Artists whose plays changed most, up or down.")
    new_artists: list[ArtistCount] = Field(description="Artists played in the period and never before it.")
    freshness: Freshness
    counting: str = PLAY_RULE
