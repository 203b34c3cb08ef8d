"""Handlers of the `spotify.*` live tools: they call Spotify with the user's own authorisation, through the
typed client of `core.spotify` (refresh on expiry, retries, rate limits, removed-endpoint memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import TokenCipher
from core.spotify import errors as spotify_errors
from core.spotify.accounts import SpotifyAccounts
from core.spotify.budget import BudgetPolicy, DatabaseBudget, Purpose
from core.spotify.client import SpotifyClient
from core.spotify.endpoints import DatabaseEndpointMemory
from core.spotify.models import Artist, SimplifiedAlbum, Track
from core.spotify.tokens import UserTokens
from serve.tools.errors import SpotifyNotConnected, SpotifyUnavailable
from serve.tools.models import (
    SearchResponse,
    SpotifyAlbum,
    SpotifyArtist,
    SpotifyPlaylist,
    SpotifySearchArgs,
    SpotifyTopArgs,
    SpotifyTrack,
    TopResponse,
)
from serve.tools.registry import ToolContext


async def _require_connection(context: ToolContext, user_id: UUID) -> None:
    found = await context.session.execute(text("SELECT 1 FROM app.spotify_tokens WHERE user_id = :u"), {"u": user_id})
    if found.first() is None:
        raise SpotifyNotConnected(
            "this user has not connected a Spotify account (local/import-only user); the history tools still work",
            details={"user_id": str(user_id)},
        )


@asynccontextmanager
async def user_client(context: ToolContext, user_id: UUID) -> AsyncIterator[SpotifyClient]:
    """A Spotify client acting as the user; Spotify's failures become typed tool errors."""
    settings = context.settings
    await _require_connection(context, user_id)
    if not settings.spotify_configured or settings.spotify_client_id is None or settings.spotify_client_secret is None:
        raise SpotifyUnavailable("this server has no Spotify app configured (SPOTIFY_CLIENT_ID/SPOTIFY_CLIENT_SECRET)")
    engine = context.session.bind
    assert isinstance(engine, AsyncEngine)
    # Live lookups are the lowest priority of the installation's one request budget.
    budget = DatabaseBudget(engine, BudgetPolicy.from_settings(settings))
    async with httpx.AsyncClient(timeout=settings.spotify_timeout_seconds) as http:
        accounts = SpotifyAccounts(
            http,
            base_url=str(settings.spotify_accounts_base_url),
            client_id=settings.spotify_client_id,
            client_secret=settings.spotify_client_secret.get_secret_value(),
            timeout=settings.spotify_timeout_seconds,
            budget=budget,
        )
        tokens = UserTokens(engine, TokenCipher(settings.encryption_keys), accounts, user_id)
        client = SpotifyClient(
            http,
            tokens,
            base_url=str(settings.spotify_api_base_url),
            endpoints=await DatabaseEndpointMemory.load(engine, settings.spotify_client_id),
            timeout=settings.spotify_timeout_seconds,
            budget=budget,
            purpose=Purpose.tools,
            user_id=user_id,
        )
        try:
            yield client
        except (spotify_errors.NotConnected, spotify_errors.NeedsReauth, spotify_errors.SpotifyAuthError) as error:
            raise SpotifyNotConnected(
                f"Spotify does not accept this user's connection any more: {error}; they must connect again",
                details={"user_id": str(user_id)},
            ) from None
        except spotify_errors.BudgetExhausted as error:
            raise SpotifyUnavailable(
                "live Spotify lookups are paused to keep this installation within its daily Spotify request "
                f"budget (collecting plays comes first): {error.detail}. Retry after {error.until:%Y-%m-%d %H:%M} "
                "UTC; the history.* tools work meanwhile",
                details={"retry_after_seconds": round(error.retry_after), "retry_at": error.until.isoformat()},
            ) from None
        except spotify_errors.RateLimited as error:
            raise SpotifyUnavailable(
                f"Spotify is rate limiting this app ({error}); retry in {error.retry_after:.0f} s; the history.* "
                "tools work meanwhile",
                details={"retry_after_seconds": round(error.retry_after)},
            ) from None
        except spotify_errors.SpotifyError as error:
            raise SpotifyUnavailable(f"Spotify did not answer: {error}") from None


def _artist(item: Artist) -> SpotifyArtist | None:
    if not item.id or not item.name:
        return None
    return SpotifyArtist(id=item.id, name=item.name, genres=item.genres or [], popularity=item.popularity, uri=item.uri)


def _track(item: Track) -> SpotifyTrack | None:
    if not item.id or not item.name:
        return None
    return SpotifyTrack(
        id=item.id,
        name=item.name,
        artists=[artist.name for artist in item.artists or [] if artist.name],
        album=item.album.name if item.album else None,
        popularity=item.popularity,
        uri=item.uri,
    )


def _album(item: SimplifiedAlbum) -> SpotifyAlbum | None:
    if not item.id or not item.name:
        return None
    artists = [artist.name for artist in item.artists or [] if artist.name]
    return SpotifyAlbum(id=item.id, name=item.name, artists=artists, release_date=item.release_date, uri=item.uri)


def _playlist(item: Any) -> SpotifyPlaylist | None:
    if not isinstance(item, dict) or not item.get("id") or not item.get("name"):
        return None  # Spotify puts null entries into playlist results
    owner = item.get("owner")
    owner_name = owner.get("display_name") or owner.get("id") if isinstance(owner, dict) else None
    return SpotifyPlaylist(id=str(item["id"]), name=str(item["name"]), owner=owner_name, uri=item.get("uri"))


def _present[T](items: list[T | None]) -> list[T]:
    return [item for item in items if item is not None]


async def get_top(context: ToolContext, args: SpotifyTopArgs, user_id: UUID) -> TopResponse:
    async with user_client(context, user_id) as client:
        if args.entity == "artists":
            artists = await client.get_top_artists(time_range=args.time_range, limit=args.limit)
            return TopResponse(
                entity="artists",
                time_range=args.time_range,
                artists=_present([_artist(item) for item in artists.items]),
            )
        tracks = await client.get_top_tracks(time_range=args.time_range, limit=args.limit)
        return TopResponse(
            entity="tracks", time_range=args.time_range, tracks=_present([_track(item) for item in tracks.items])
        )


async def search(context: ToolContext, args: SpotifySearchArgs, user_id: UUID) -> SearchResponse:
    async with user_client(context, user_id) as client:
        # Development-mode apps may ask for at most 10 results per type (Feb 2026).
        found = await client.search(args.q, types=tuple(args.type), limit=min(args.limit, client.max_search_limit))
    return SearchResponse(
        q=args.q,
        tracks=_present([_track(item) for item in found.tracks.items]) if found.tracks else [],
        artists=_present([_artist(item) for item in found.artists.items]) if found.artists else [],
        albums=_present([_album(item) for item in found.albums.items]) if found.albums else [],
        playlists=_present([_playlist(item) for item in found.playlists.items]) if found.playlists else [],
    )
