"""Argument and result models of the playlist tools (`spotify.create_playlist`, `spotify.add_to_playlist`,
`spotify.list_playlists`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from serve.tools.models import ToolArgs

type PlaylistSource = Literal["top_tracks", "discoveries", "cluster", "artist", "on_repeat", "forgotten_favourites"]

# The windows a source can be read over (the shared `Period`s that make sense for a playlist).
type SourcePeriod = Literal["last_30_days", "last_90_days", "last_365_days", "this_year", "last_year", "all_time"]

MAX_PLAYLIST_TRACKS = 500


# Lengths are checked by validators, not published: the tool list goes into every conversation, kept small.
def _track_ids(required: bool) -> Any:
    return Field(default=... if required else None, description="Track ids/URIs/links or history track_id values.")


def _idempotency_key() -> Any:
    return Field(default=None, description="Resend on retry.")


def _bounded(value: str | None, field: str, most: int) -> str | None:
    if value is not None and not 1 <= len(value) <= most:
        raise ValueError(f"`{field}` must be 1 to {most} characters")
    return value


# A new playlist from explicit ids or a source in the user's history (descriptions short: the tool list is read in
# every conversation).
class CreatePlaylistArgs(ToolArgs):
    name: str = Field(description="Playlist name.")
    description: str | None = Field(default=None, description="Playlist description.")
    public: bool = Field(default=False, description="Default private.")
    track_ids: list[str] | None = _track_ids(required=False)
    source: PlaylistSource | None = Field(default=None, description="From history instead of track_ids.")
    period: SourcePeriod | None = Field(default=None, description="Source window.")
    limit: int = Field(default=50, ge=1, le=MAX_PLAYLIST_TRACKS, description="Tracks from source.")
    artist: str | None = Field(default=None, description="For source=artist: name or id.")
    cluster_id: int | None = Field(default=None, ge=0, description="For source=cluster.")
    idempotency_key: str | None = _idempotency_key()

    @model_validator(mode="after")
    def _one_selection(self) -> CreatePlaylistArgs:
        _bounded(self.name, "name", 100)
        _bounded(self.description, "description", 300)
        _bounded(self.artist, "artist", 200)
        _bounded(self.idempotency_key, "idempotency_key", 200)
        _check_ids(self.track_ids)
        if (self.track_ids is None) == (self.source is None):
            raise ValueError("give either `track_ids` or `source` (exactly one)")
        if self.source == "artist" and not (self.artist and self.artist.strip()):
            raise ValueError("source=artist needs `artist` (a name or an artist id)")
        if self.source == "cluster" and self.cluster_id is None:
            raise ValueError("source=cluster needs `cluster_id` (from history.taste_clusters)")
        return self


class AddToPlaylistArgs(ToolArgs):
    playlist_id: str = Field(description="The user's own playlist: id, URI or link.")
    track_ids: list[str] = _track_ids(required=True)
    idempotency_key: str | None = _idempotency_key()

    @model_validator(mode="after")
    def _bounds(self) -> AddToPlaylistArgs:
        _bounded(self.playlist_id, "playlist_id", 200)
        _bounded(self.idempotency_key, "idempotency_key", 200)
        _check_ids(self.track_ids)
        return self


def _check_ids(track_ids: list[str] | None) -> None:
    if track_ids is not None and not 1 <= len(track_ids) <= MAX_PLAYLIST_TRACKS:
        raise ValueError(f"`track_ids` must hold 1 to {MAX_PLAYLIST_TRACKS} tracks")


class ListPlaylistsArgs(ToolArgs):
    pass


class PlaylistTrack(BaseModel):
    track_id: str
    name: str | None = None
    artist: str | None = None


# Lean on purpose: the tool list goes into every conversation; `note` says in words what happened and what next.
class PlaylistResult(BaseModel):
    status: Literal["complete", "partial"]
    playlist_id: str
    spotify_url: str
    tracks_requested: int
    tracks_added: int
    tracks: list[str]  # "name — artist" of the first 100 added
    unresolved: list[str]  # left out, no Spotify id found: "name — artist (track_id): why"
    idempotency_key: str
    retry_after_seconds: int | None = None
    note: str  # what happened (also: a replayed request, a resumed one) and what to do next


class OwnPlaylist(BaseModel):
    id: str
    name: str
    tracks: int | None = None
    spotify_url: str


class PlaylistList(BaseModel):
    playlists: list[OwnPlaylist]
    note: str
