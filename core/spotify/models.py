"""Pydantic models of what Spotify returns. Every field that Spotify may drop (development-mode apps lost
`popularity`, `followers`, `/me` e-mail and country, …) is optional: a missing field is `None`, never an error.
Unknown fields are kept (`extra="allow"`) so payloads land in the raw tables as Spotify sent them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class SpotifyModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Image(SpotifyModel):
    url: str | None = None
    height: int | None = None
    width: int | None = None


class Followers(SpotifyModel):
    total: int | None = None


class SimplifiedArtist(SpotifyModel):
    id: str | None = None
    name: str | None = None
    uri: str | None = None
    type: str | None = None


class Artist(SimplifiedArtist):
    genres: list[str] | None = None
    popularity: int | None = None
    followers: Followers | None = None
    images: list[Image] | None = None


class SimplifiedAlbum(SpotifyModel):
    id: str | None = None
    name: str | None = None
    uri: str | None = None
    album_type: str | None = None
    release_date: str | None = None
    release_date_precision: str | None = None
    total_tracks: int | None = None
    images: list[Image] | None = None
    artists: list[SimplifiedArtist] | None = None


class Track(SpotifyModel):
    id: str | None = None
    name: str | None = None
    uri: str | None = None
    type: str | None = None
    duration_ms: int | None = None
    explicit: bool | None = None
    popularity: int | None = None
    preview_url: str | None = None
    is_local: bool | None = None
    album: SimplifiedAlbum | None = None
    artists: list[SimplifiedArtist] | None = None


class Context(SpotifyModel):
    type: str | None = None
    uri: str | None = None
    href: str | None = None


class PlayHistory(SpotifyModel):
    track: Track | None = None
    played_at: datetime
    context: Context | None = None


class Cursors(SpotifyModel):
    after: str | None = None
    before: str | None = None


class RecentlyPlayed(SpotifyModel):
    items: list[PlayHistory] = Field(default_factory=list)
    next: str | None = None
    cursors: Cursors | None = None
    limit: int | None = None
    total: int | None = None
    href: str | None = None


class Page[T](SpotifyModel):
    items: list[T] = Field(default_factory=list)
    total: int | None = None
    limit: int | None = None
    offset: int | None = None
    next: str | None = None
    previous: str | None = None
    href: str | None = None


class PlaylistOwner(SpotifyModel):
    id: str | None = None
    display_name: str | None = None


class SimplifiedPlaylist(SpotifyModel):
    """A playlist as lists and the create answer show it (its `items`/`tracks` are a count and a link)."""

    id: str
    name: str | None = None
    description: str | None = None
    public: bool | None = None
    collaborative: bool | None = None
    owner: PlaylistOwner | None = None
    uri: str | None = None
    snapshot_id: str | None = None
    external_urls: dict[str, str] | None = None
    # `items` is the 2026 name, `tracks` the deprecated one; a full playlist object has a page in either.
    items: JsonValue = None
    tracks: JsonValue = None

    @property
    def total_items(self) -> int | None:
        for ref in (self.items, self.tracks):
            total = ref.get("total") if isinstance(ref, dict) else None
            if isinstance(total, int):
                return total
        return None


class PrivateUser(SpotifyModel):
    id: str
    display_name: str | None = None
    email: str | None = None
    country: str | None = None
    product: str | None = None
    uri: str | None = None
    images: list[Image] | None = None


class AudioFeatures(SpotifyModel):
    id: str | None = None
    danceability: float | None = None
    energy: float | None = None
    valence: float | None = None
    tempo: float | None = None
    instrumentalness: float | None = None
    acousticness: float | None = None
    liveness: float | None = None
    speechiness: float | None = None
    loudness: float | None = None
    mode: int | None = None
    key: int | None = None
    time_signature: int | None = None
    duration_ms: int | None = None


class SearchResult(SpotifyModel):
    tracks: Page[Track] | None = None
    artists: Page[Artist] | None = None
    albums: Page[SimplifiedAlbum] | None = None
    # Spotify puts `null` entries into playlist results; kept as plain JSON.
    playlists: Page[JsonValue] | None = None


class TokenResponse(BaseModel):
    """What the accounts service returns for every grant."""

    model_config = ConfigDict(extra="ignore")

    access_token: str
    token_type: str = "Bearer"
    expires_in: int = 3600
    refresh_token: str | None = None
    scope: str | None = None

    def __repr__(self) -> str:  # never print tokens
        return f"TokenResponse(token_type={self.token_type!r}, expires_in={self.expires_in}, scope={self.scope!r})"

    __str__ = __repr__
