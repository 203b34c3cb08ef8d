"""Live Spotify answers (`spotify.top`, `spotify.search`): items as Spotify describes them, with their links."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field

from serve.tools.models.shared import ToolArgs, spotify_link


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
