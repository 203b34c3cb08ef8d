"""Listening-history answers: the taste summary, top artists and tracks, heatmap, repeat rate and coverage."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from serve.tools.models.clusters import TasteCluster
from serve.tools.models.shared import AnswerMeta, ArtistCount, TrackCount, WindowArgs


class TasteSummaryArgs(WindowArgs):
    limit: int = Field(default=10, ge=1, le=50, description="How many top artists and tracks.")


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
