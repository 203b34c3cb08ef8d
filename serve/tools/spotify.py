"""Handlers of the `spotify.*` live tools (they call Spotify with the user's own authorisation)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text

from serve.tools.errors import SpotifyNotConnected, SpotifyUnavailable
from serve.tools.models import SearchResponse, SpotifySearchArgs, SpotifyTopArgs, TopResponse
from serve.tools.registry import ToolContext


async def _require_connection(context: ToolContext, user_id: UUID) -> None:
    found = await context.session.execute(text("SELECT 1 FROM app.spotify_tokens WHERE user_id = :u"), {"u": user_id})
    if found.first() is None:
        raise SpotifyNotConnected(
            "this user has not connected a Spotify account (local/import-only user); the history tools still work",
            details={"user_id": str(user_id)},
        )


async def get_top(context: ToolContext, args: SpotifyTopArgs, user_id: UUID) -> TopResponse:
    del args
    await _require_connection(context, user_id)
    raise SpotifyUnavailable("live Spotify calls are not available on this server yet")


async def search(context: ToolContext, args: SpotifySearchArgs, user_id: UUID) -> SearchResponse:
    del args
    await _require_connection(context, user_id)
    raise SpotifyUnavailable("live Spotify calls are not available on this server yet")
