"""The typed Web API client.

One `SpotifyClient` per user (or per app, for catalogue calls with client credentials) and job; the
`httpx.AsyncClient`, the global concurrency semaphore and the removed-endpoint memory are shared. This module
holds the endpoints: the user's own data, playlists and the catalogue (batch methods fall back to single-item
calls when the batch endpoint is gone). How a request is sent — budget, retries, rate limits, token refresh,
removed endpoints — is `SpotifyTransport`'s (transport.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from core.spotify.errors import EndpointRemoved
from core.spotify.models import (
    Artist,
    AudioFeatures,
    Page,
    PrivateUser,
    RecentlyPlayed,
    SearchResult,
    SimplifiedPlaylist,
    Track,
)
from core.spotify.transport import (
    ARTISTS_BATCH,
    AUDIO_FEATURES_BATCH,
    AUDIO_FEATURES_ONE,
    DEFAULT_MAX_SEARCH_LIMIT,
    NEVER_SENT,
    REMOVABLE,
    TRACKS_BATCH,
    Json,
    Sleep,
    SpotifyTransport,
    StaticToken,
    TokenSource,
    validate,
)

type TimeRange = Literal["short_term", "medium_term", "long_term"]
type SearchType = Literal["track", "artist", "album", "playlist"]

RECENTLY_PLAYED_LIMIT = 50
PLAYLIST_ADD_LIMIT = 100  # items per "add items to playlist" request


def _to_ms(value: datetime | int) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes passed to Spotify must be timezone-aware (UTC)")
        return int(value.timestamp() * 1000)
    return value


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


class SpotifyClient(SpotifyTransport):
    """The Web API endpoints, typed; each request goes through `SpotifyTransport`."""

    # ----------------------------------------------------------------------------------------------
    # The user's own data
    # ----------------------------------------------------------------------------------------------
    async def get_me(self) -> PrivateUser:
        return await self._get_model(PrivateUser, "GET /me", "/me")

    async def get_recently_played(
        self,
        *,
        limit: int = RECENTLY_PLAYED_LIMIT,
        after: datetime | int | None = None,
        before: datetime | int | None = None,
    ) -> RecentlyPlayed:
        """The last plays (at most 50 exist). `after`/`before` are UTC datetimes or Unix milliseconds."""
        if not 1 <= limit <= RECENTLY_PLAYED_LIMIT:
            raise ValueError(f"limit must be between 1 and {RECENTLY_PLAYED_LIMIT}, got {limit}")
        if after is not None and before is not None:
            raise ValueError("Spotify accepts either `after` or `before`, not both")
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = _to_ms(after)
        if before is not None:
            params["before"] = _to_ms(before)
        return await self._get_model(
            RecentlyPlayed, "GET /me/player/recently-played", "/me/player/recently-played", params
        )

    async def get_top_tracks(
        self, *, time_range: TimeRange = "medium_term", limit: int = 20, offset: int = 0
    ) -> Page[Track]:
        _check_page(limit, offset)
        params: dict[str, str | int] = {"time_range": time_range, "limit": limit, "offset": offset}
        return await self._get_model(Page[Track], "GET /me/top/tracks", "/me/top/tracks", params)

    async def get_top_artists(
        self, *, time_range: TimeRange = "medium_term", limit: int = 20, offset: int = 0
    ) -> Page[Artist]:
        _check_page(limit, offset)
        params: dict[str, str | int] = {"time_range": time_range, "limit": limit, "offset": offset}
        return await self._get_model(Page[Artist], "GET /me/top/artists", "/me/top/artists", params)

    # ----------------------------------------------------------------------------------------------
    # Playlists (the 2026 paths: /me/playlists and /playlists/{id}/items; the /users/{id}/playlists and
    # /playlists/{id}/tracks forms are deprecated)
    # ----------------------------------------------------------------------------------------------
    async def get_my_playlists(self, *, limit: int = 50, offset: int = 0) -> Page[SimplifiedPlaylist]:
        """Playlists the user owns or follows (private ones only with `playlist-read-private`)."""
        _check_page(limit, offset)
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        return await self._get_model(Page[SimplifiedPlaylist], "GET /me/playlists", "/me/playlists", params)

    async def get_playlist(self, playlist_id: str) -> SimplifiedPlaylist | None:
        """A playlist's name, owner and visibility (not its items); None when Spotify knows no such playlist."""
        params: dict[str, str | int] = {"fields": "id,name,owner(id,display_name),public,uri,external_urls"}
        body = await self._get("GET /playlists/{id}", f"/playlists/{_id(playlist_id)}", params, missing_ok=True)
        return None if body is None else validate(SimplifiedPlaylist, body, "GET /playlists/{id}")

    async def create_playlist(self, name: str, *, public: bool, description: str | None = None) -> SimplifiedPlaylist:
        body: Json = {"name": name, "public": public}
        if description:
            body["description"] = description
        answer = await self._request("POST", "POST /me/playlists", "/me/playlists", body=body)
        return validate(SimplifiedPlaylist, answer or {}, "POST /me/playlists")

    async def add_playlist_items(self, playlist_id: str, uris: Sequence[str]) -> str | None:
        """Append up to `PLAYLIST_ADD_LIMIT` items (Spotify URIs) in one request; returns the new snapshot id."""
        if not 1 <= len(uris) <= PLAYLIST_ADD_LIMIT:
            raise ValueError(f"add 1 to {PLAYLIST_ADD_LIMIT} items per request, got {len(uris)}")
        answer = await self._request(
            "POST",
            "POST /playlists/{id}/items",
            f"/playlists/{_id(playlist_id)}/items",
            body={"uris": list(uris)},
        )
        snapshot = (answer or {}).get("snapshot_id")
        return snapshot if isinstance(snapshot, str) else None

    # ----------------------------------------------------------------------------------------------
    # Catalogue
    # ----------------------------------------------------------------------------------------------
    async def get_track(self, track_id: str) -> Track | None:
        body = await self._get("GET /tracks/{id}", f"/tracks/{_id(track_id)}", missing_ok=True)
        return None if body is None else validate(Track, body, "GET /tracks/{id}")

    async def get_tracks(self, track_ids: Sequence[str]) -> list[Track | None]:
        """Tracks in the order asked (None for unknown ids); one-by-one when the batch endpoint is gone."""
        return await self._batch(track_ids, 50, TRACKS_BATCH, "/tracks", "tracks", Track, self.get_track)

    async def get_artist(self, artist_id: str) -> Artist | None:
        body = await self._get("GET /artists/{id}", f"/artists/{_id(artist_id)}", missing_ok=True)
        return None if body is None else validate(Artist, body, "GET /artists/{id}")

    async def get_artists(self, artist_ids: Sequence[str]) -> list[Artist | None]:
        return await self._batch(artist_ids, 50, ARTISTS_BATCH, "/artists", "artists", Artist, self.get_artist)

    async def get_audio_features_one(self, track_id: str) -> AudioFeatures | None:
        body = await self._get(AUDIO_FEATURES_ONE, f"/audio-features/{_id(track_id)}", missing_ok=True)
        return None if body is None else validate(AudioFeatures, body, AUDIO_FEATURES_ONE)

    async def get_audio_features(self, track_ids: Sequence[str]) -> list[AudioFeatures | None]:
        """Raises `EndpointRemoved` when neither the batch nor the single endpoint is available to the app."""
        return await self._batch(
            track_ids,
            100,
            AUDIO_FEATURES_BATCH,
            "/audio-features",
            "audio_features",
            AudioFeatures,
            self.get_audio_features_one,
        )

    async def search(
        self, q: str, *, types: Sequence[SearchType] = ("track",), limit: int = 10, offset: int = 0
    ) -> SearchResult:
        if not q.strip():
            raise ValueError("search query must not be empty")
        if not types:
            raise ValueError("search needs at least one type")
        if not 1 <= limit <= self.max_search_limit:
            raise ValueError(f"search limit must be between 1 and {self.max_search_limit}, got {limit}")
        if offset < 0:
            raise ValueError("offset must be >= 0")
        params: dict[str, str | int] = {"q": q, "type": ",".join(types), "limit": limit, "offset": offset}
        return await self._get_model(SearchResult, "GET /search", "/search", params)

    async def _batch[M: BaseModel](
        self,
        ids: Sequence[str],
        size: int,
        endpoint: str,
        path: str,
        key: str,
        model: type[M],
        single: Callable[[str], Awaitable[M | None]],
    ) -> list[M | None]:
        results: list[M | None] = []
        for chunk in _chunks([_id(item) for item in ids], size):
            if not self.endpoints.is_removed(endpoint):
                try:
                    body = await self._get(endpoint, path, {"ids": ",".join(chunk)})
                except EndpointRemoved:
                    pass
                else:
                    raw = (body or {}).get(key)
                    items = raw if isinstance(raw, list) else []
                    by_position = [None if item is None else validate(model, item, endpoint) for item in items]
                    by_position += [None] * (len(chunk) - len(by_position))
                    results.extend(by_position[: len(chunk)])
                    continue
            for item_id in chunk:
                results.append(await single(item_id))
        return results


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= 50:
        raise ValueError(f"limit must be between 1 and 50, got {limit}")
    if offset < 0:
        raise ValueError("offset must be >= 0")


def _id(value: str) -> str:
    """A bare Spotify id (accepts `spotify:track:<id>` URIs); refuses anything that could alter the path."""
    bare = value.rsplit(":", 1)[-1] if value.startswith("spotify:") else value
    if not bare or not bare.isalnum():
        raise ValueError(f"`{value}` is not a Spotify id")
    return bare


__all__ = [
    "ARTISTS_BATCH",
    "AUDIO_FEATURES_BATCH",
    "AUDIO_FEATURES_ONE",
    "DEFAULT_MAX_SEARCH_LIMIT",
    "NEVER_SENT",
    "PLAYLIST_ADD_LIMIT",
    "RECENTLY_PLAYED_LIMIT",
    "REMOVABLE",
    "TRACKS_BATCH",
    "Json",
    "SearchType",
    "Sleep",
    "SpotifyClient",
    "StaticToken",
    "TimeRange",
    "TokenSource",
]
