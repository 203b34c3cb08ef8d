"""Argument and result models of every tool. The JSON schemas the faces publish come from these."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal
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


# ==================================================================================================
# Arguments
# ==================================================================================================


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


class TasteSummaryArgs(WindowArgs):
    limit: int = Field(default=10, ge=1, le=50, description="How many top artists and tracks.")


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


class ClustersArgs(WindowArgs):
    pass


class SpotifyTopArgs(ToolArgs):
    entity: Literal["artists", "tracks"] = Field(description="Top artists or top tracks.")
    time_range: Literal["short_term", "medium_term", "long_term"] = Field(
        default="medium_term",
        description="Spotify's ranges: short_term ~4 weeks, medium_term ~6 months, long_term ~1 year.",
    )
    limit: int = Field(default=20, ge=1, le=50, description="How many.")


type SearchType = Literal["track", "artist", "album", "playlist"]


def _default_search_type() -> list[SearchType]:
    return ["track"]


class SpotifySearchArgs(ToolArgs):
    q: str = Field(min_length=1, max_length=200, description="Search text, e.g. an artist or a song title.")
    type: list[SearchType] = Field(
        default_factory=_default_search_type, min_length=1, description="What to search for."
    )
    limit: int = Field(default=10, ge=1, le=50, description="Results per type.")


class UserArgs(ToolArgs):
    pass


class OpsListArgs(ToolArgs):
    limit: int = Field(default=20, ge=1, le=100, description="How many, newest first.")


# ==================================================================================================
# Results
# ==================================================================================================


class Freshness(BaseModel):
    """How fresh the answer is: listens after the last warehouse rebuild are not counted yet."""

    last_transform_at: datetime | None = Field(description="When the warehouse was last rebuilt (null: never).")
    latest_play_at: datetime | None = Field(description="Newest listen of this user in the warehouse.")
    note: str


class SourceCoverage(BaseModel):
    source: str = Field(description="`spotify_api` (polled) or `import_zip` (Spotify export).")
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


class RepeatStats(BaseModel):
    plays: int
    unique_tracks: int
    repeat_rate: float = Field(description="1 - unique_tracks / plays: how much is replayed, 0-1.")
    top10_share: float = Field(description="Share of plays going to the 10 most played tracks, 0-1.")
    tracks_played_once: int
    max_plays_single_track: int


class Heatmap(BaseModel):
    plays: int
    weekday_hour_plays: list[list[int]] = Field(
        description="7 rows (Monday..Sunday) of 24 hourly play counts, user's time zone."
    )
    weekday_totals: list[int] = Field(description="Plays per weekday, Monday..Sunday.")
    hour_totals: list[int] = Field(description="Plays per hour of day, 0..23.")
    peak_weekday: str | None
    peak_hour: int | None


class AudioProfile(BaseModel):
    tracks_with_features: int
    share_of_plays_with_features: float
    avg_energy: float | None
    median_energy: float | None
    avg_danceability: float | None
    median_danceability: float | None
    avg_valence: float | None
    median_valence: float | None
    avg_tempo: float | None
    median_tempo: float | None


class ClusterArtist(BaseModel):
    artist_id: str | None = None
    name: str | None = None
    plays: int | None = None

    @computed_field(description="The artist on Spotify (null: known only by name).")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("artist", self.artist_id)


class ClusterTrack(BaseModel):
    track_id: str | None = None
    name: str | None = None
    artist_name: str | None = None
    plays: int | None = None

    @computed_field(description="The track on Spotify (null: known only by name).")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("track", self.track_id)


class TasteCluster(BaseModel):
    cluster_id: int
    label: str
    share_of_plays: float
    plays: int
    top_artists: list[ClusterArtist]
    top_tracks: list[ClusterTrack]
    distinguishing: dict[str, Any] = Field(description="What sets the cluster apart.")


class TasteSummary(AnswerMeta):
    window_start: datetime
    window_end: datetime
    plays: int
    unique_tracks: int
    unique_artists: int
    listening_minutes: float
    top_artists: list[ArtistCount]
    top_tracks: list[TrackCount]
    repeat_stats: RepeatStats
    heatmap: Heatmap
    audio_profile: AudioProfile | None = Field(description="Null when no audio features are stored.")
    clusters: list[TasteCluster] | None = Field(description="Null when no clustering exists for this window.")


class TopArtists(AnswerMeta):
    plays: int = Field(description="All plays in the window.")
    artists: list[ArtistCount]


class TopTracks(AnswerMeta):
    plays: int = Field(description="All plays in the window.")
    tracks: list[TrackCount]


class HeatmapResult(AnswerMeta):
    heatmap: Heatmap


class RepeatRateResult(AnswerMeta):
    repeat_stats: RepeatStats


class CoverageResult(AnswerMeta):
    pass


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


class TasteClusters(AnswerMeta):
    window_name: str | None = Field(description="Which precomputed clustering answered (null: computed now).")
    feature_set: str | None = Field(description="What was clustered: audio_features, genres or behaviour.")
    k: int | None
    quality_score: float | None = Field(description="Silhouette score, -1..1; above ~0.25 is a usable split.")
    computed_at: datetime | None
    clusters: list[TasteCluster]
    note: str


class SpotifyArtist(BaseModel):
    id: str
    name: str
    genres: list[str] = Field(default_factory=list)
    popularity: int | None = None
    uri: str | None = None

    @computed_field(description="The artist on Spotify.")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("artist", self.id)


class SpotifyTrack(BaseModel):
    id: str
    name: str
    artists: list[str]
    album: str | None = None
    popularity: int | None = None
    uri: str | None = None

    @computed_field(description="The track on Spotify.")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("track", self.id)


class SpotifyAlbum(BaseModel):
    id: str
    name: str
    artists: list[str]
    release_date: str | None = None
    uri: str | None = None

    @computed_field(description="The album on Spotify.")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("album", self.id)


class SpotifyPlaylist(BaseModel):
    id: str
    name: str
    owner: str | None = None
    uri: str | None = None

    @computed_field(description="The playlist on Spotify.")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("playlist", self.id)


class TopResponse(BaseModel):
    entity: Literal["artists", "tracks"]
    time_range: str
    artists: list[SpotifyArtist] = Field(default_factory=list)
    tracks: list[SpotifyTrack] = Field(default_factory=list)


class SearchResponse(BaseModel):
    q: str
    tracks: list[SpotifyTrack] = Field(default_factory=list)
    artists: list[SpotifyArtist] = Field(default_factory=list)
    albums: list[SpotifyAlbum] = Field(default_factory=list)
    playlists: list[SpotifyPlaylist] = Field(default_factory=list)


class RequestBudget(BaseModel):
    """The Spotify request budget of the whole installation (all users and processes share it). The counts
    describe every user's requests, so only the admin token sees them (issue 16.5); a user token sees whether
    Spotify's quota has stopped collection and until when, which is what decides how fresh its own data is."""

    per_day: int | None = Field(description="Requests allowed per rolling 24 h (SPOTIFY_REQUEST_BUDGET); admin only.")
    used: int | None = Field(description="Requests in the last 24 h; admin only.")
    remaining: int | None = Field(description="Requests left in the rolling 24 h; admin only.")
    resets_at: datetime | None = Field(
        description="When the oldest counted request leaves the 24 h window; admin only."
    )
    blocked_until: datetime | None = Field(description="Spotify's quota stopped all requests until then.")
    blocked_reason: str | None


class SyncStatus(BaseModel):
    user_id: UUID
    user_status: str
    sync_status: str | None
    spotify_connected: bool
    initial_sync_completed_at: datetime | None
    last_poll_completed_at: datetime | None
    last_poll_latest_played_at: datetime | None
    next_poll_at: datetime | None
    next_poll_reason: str | None = Field(description="Why the next poll is then (adaptive polling).")
    poll_interval_seconds: int | None
    next_attempt_at: datetime | None = Field(description="No request for this user before then (rate limits).")
    last_poll_new_plays: int | None = Field(description="Plays the last poll gained.")
    polls_24h: int = Field(description="Polls in the last 24 h.")
    new_plays_per_poll_24h: float | None = Field(description="Average plays gained per poll over the last 24 h.")
    possibly_missed_polls: int = Field(
        description="Polls that found Spotify's 50-play window all new: plays before it may have been missed."
    )
    consecutive_errors: int
    error_message: str | None
    last_transform_at: datetime | None
    budget: RequestBudget


class JobRunSummary(BaseModel):
    id: int
    job_type: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    stats: dict[str, Any]
    error_message: str | None


class JobRuns(BaseModel):
    user_id: UUID
    job_runs: list[JobRunSummary]


class ImportJobSummary(BaseModel):
    id: int
    status: str
    original_filename: str | None
    uploaded_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    format_detected: str | None
    records_ingested: int | None
    records_total: int | None
    earliest_played_at: datetime | None
    latest_played_at: datetime | None
    error_message: str | None


class ImportJobs(BaseModel):
    user_id: UUID
    import_jobs: list[ImportJobSummary]
