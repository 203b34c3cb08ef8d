"""Taste clusters: what the listening splits into, with each cluster's top artists and tracks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, computed_field

from serve.tools.models.shared import AnswerMeta, WindowArgs, spotify_link


class ClustersArgs(WindowArgs):
    pass


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


class TasteClusters(AnswerMeta):
    window_name: str | None = Field(description="Which precomputed clustering answered (null: computed now).")
    feature_set: str | None = Field(description="What was clustered: audio_features, genres or behaviour.")
    k: int | None
    quality_score: float | None = Field(description="Silhouette score, -1..1; above ~0.25 is a usable split.")
    computed_at: datetime | None
    clusters: list[TasteCluster]
    note: str
