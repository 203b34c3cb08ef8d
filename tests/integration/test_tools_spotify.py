"""The live Spotify tools against the fake Spotify over real HTTP, on `/mcp/call` and MCP alike."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from core.crypto import TokenCipher, generate_key
from core.settings import load_settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fakes.spotify import FakeSpotify, connect_user, spotify_env
from tests.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def setup(database_url: str) -> Iterator[tuple[FakeSpotify, str, str]]:
    fake = FakeSpotify()
    fake.ensure_catalog(30)
    key = generate_key()
    with live_server(fake.app) as fake_base:
        user_id, _ = connect_user(database_url, TokenCipher([key]), fake, "listener", plays=40)
        settings = load_settings(spotify_env(database_url, fake_base, key))
        with live_server(create_app(settings, database_url)) as base:
            yield fake, base, str(user_id)


async def test_get_top_and_search_through_both_faces(setup: tuple[FakeSpotify, str, str]) -> None:
    fake, base, user_id = setup
    async with httpx.AsyncClient(timeout=30) as http:
        top = await http.post(
            f"{base}/mcp/call",
            json={"tool": "spotify.get_top", "args": {"user_id": user_id, "entity": "artists", "limit": 5}},
            headers=ADMIN,
        )
        assert top.status_code == 200, top.text
        artists = top.json()["result"]["artists"]
        assert 0 < len(artists) <= 5 and artists[0]["name"].startswith(("Artist", "Guest"))
        tracks = await http.post(
            f"{base}/mcp/call",
            json={
                "tool": "spotify.get_top",
                "args": {"user_id": user_id, "entity": "tracks", "time_range": "long_term"},
            },
            headers=ADMIN,
        )
        assert tracks.status_code == 200 and tracks.json()["result"]["tracks"][0]["artists"]
        found = await http.post(
            f"{base}/mcp/call",
            json={
                "tool": "spotify.search",
                "args": {"user_id": user_id, "q": "Song 3", "type": ["track"], "limit": 50},
            },
            headers=ADMIN,
        )
        assert found.status_code == 200, found.text
        names = [track["name"] for track in found.json()["result"]["tracks"]]
        assert "Song 3" in names and len(names) <= 10  # clamped to what a development-mode app may ask
    transport = streamable_http_client(f"{base}/mcp", http_client=create_mcp_http_client(headers=ADMIN))
    async with Client(transport, mode="legacy", cache=None) as client:
        answer = await client.call_tool("spotify_get_top", {"user_id": user_id, "entity": "artists", "limit": 5})
        assert answer.structured_content == top.json()["result"]
    assert fake.calls_for("/v1/me/top/artists")


async def test_spotify_failures_are_typed(setup: tuple[FakeSpotify, str, str]) -> None:
    fake, base, user_id = setup
    fake.revoke("listener")
    fake.expire_access_tokens()
    async with httpx.AsyncClient(timeout=30) as http:
        refused = await http.post(
            f"{base}/mcp/call",
            json={"tool": "spotify.get_top", "args": {"user_id": user_id, "entity": "tracks"}},
            headers=ADMIN,
        )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "spotify_not_connected"
    assert "connect again" in json.dumps(refused.json())
