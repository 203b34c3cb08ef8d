"""Argument and result models of the playlist tools (`spotify.create_playlist`, `spotify.add_to_playlist`,
`spotify.list_playlists`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field, model_validator

from serve.tools.models import ToolArgs, WindowArgs, spotify_link

type PlaylistSource = Literal["top_tracks", "discoveries", "cluster", "artist", "on_repeat", "forgotten_favourites"]

MAX_PLAYLIST_TRACKS = 500


class TrackSelectionArgs(WindowArgs):
    """Which tracks: explicit ids, or a source in the user's history (with the window arguments)."""

    track_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PLAYLIST_TRACKS,
        description=(
            "Tracks in order: Spotify ids, spotify:track: URIs, open.spotify.com links or track_id values of "
            "history answers (local: ids are matched by name). Or give `source`."
        ),
    )
    source: PlaylistSource | None = Field(
        default=None,
        description=(
            "Pick from history: top_tracks, discoveries (first played in the window), cluster (`cluster_id`), "
            "artist (`artist`, default all time), on_repeat (3+ plays, default last 30 days), "
            "forgotten_favourites (5+ plays, none in 6 months)."
        ),
    )
    limit: int = Field(default=50, ge=1, le=MAX_PLAYLIST_TRACKS, description="Tracks from `source` (1-500).")
    artist: str | None = Field(default=None, max_length=200, description="Artist name or id, for source=artist.")
    cluster_id: int | None = Field(
        default=None, ge=0, le=50, description="For source=cluster: a cluster_id of history.taste_clusters."
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Send the same key when retrying: the first call's result comes back, nothing is added twice.",
    )

    @model_validator(mode="after")
    def _one_selection(self) -> TrackSelectionArgs:
        if (self.track_ids is None) == (self.source is None):
            raise ValueError("give either `track_ids` or `source` (exactly one)")
        if self.source == "artist" and not (self.artist and self.artist.strip()):
            raise ValueError("source=artist needs `artist` (a name or an artist id)")
        if self.source == "cluster" and self.cluster_id is None:
            raise ValueError("source=cluster needs `cluster_id` (from history.taste_clusters)")
        return self


class CreatePlaylistArgs(TrackSelectionArgs):
    name: str = Field(min_length=1, max_length=100, description="The playlist's name.")
    description: str | None = Field(default=None, max_length=300, description="The playlist's description.")
    public: bool = Field(default=False, description="Shown on the user's profile. Default private.")


class AddToPlaylistArgs(TrackSelectionArgs):
    playlist_id: str = Field(
        min_length=1, max_length=200, description="The user's own playlist: id, spotify:playlist: URI or link."
    )


class ListPlaylistsArgs(ToolArgs):
    limit: int = Field(default=20, ge=1, le=50, description="How many, newest first (1-50).")


class PlaylistTrack(BaseModel):
    track_id: str
    name: str | None = None
    artist: str | None = None


class UnresolvedTrack(BaseModel):
    track_id: str = Field(description="The id in the user's history (local: ids are known by name only).")
    name: str | None = None
    artist: str | None = None
    reason: str


class PlaylistResult(BaseModel):
    status: Literal["complete", "partial"] = Field(
        description="partial: Spotify stopped the additions; call again with the same idempotency_key to finish."
    )
    playlist_id: str
    name: str
    public: bool | None = None
    tracks_requested: int = Field(description="Tracks to add (resolved to Spotify ids).")
    tracks_added: int = Field(description="Tracks Spotify confirmed in the playlist, in order.")
    added_this_call: int
    tracks: list[PlaylistTrack] = Field(description="The tracks added so far (the first 100).")
    unresolved: list[UnresolvedTrack] = Field(description="Tracks left out: no Spotify id could be found.")
    replayed: bool = Field(description="The idempotency key matched an earlier call: its playlist is returned.")
    idempotency_key: str
    retry_after_seconds: int | None = None
    note: str

    @computed_field(description="The playlist on Spotify.")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("playlist", self.playlist_id)


class OwnPlaylist(BaseModel):
    id: str
    name: str
    public: bool | None = None
    tracks: int | None = None

    @computed_field(description="The playlist on Spotify.")  # type: ignore[prop-decorator]
    @property
    def spotify_url(self) -> str | None:
        return spotify_link("playlist", self.id)


class PlaylistList(BaseModel):
    playlists: list[OwnPlaylist]
    note: str
