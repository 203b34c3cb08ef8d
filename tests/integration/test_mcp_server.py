"""The MCP server over real HTTP with the official `mcp` client: tools/list, tools/call on both protocol
generations, the same answers as `/mcp/call`, token rules, Host/Origin validation."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from core.settings import Settings
from serve.api.app import create_app
from serve.mcp_server import INSTRUCTIONS
from serve.tools.catalog import REGISTRY
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import History, add_user, record_transform, standard_history
from tests.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

# One call per tool (the Spotify tools answer a typed error for a user who never connected Spotify).
CALLS: dict[str, dict[str, Any]] = {
    "history.taste_summary": {"days": 90},
    "history.top_artists": {"period": "last_month", "limit": 5},
    "history.top_tracks": {"days": 30, "limit": 5},
    "history.listening_heatmap": {"period": "this_year"},
    "history.repeat_rate": {"period": "all_time"},
    "history.coverage": {"days": 365},
    "history.compare_periods": {"period": "this_month"},
    "history.taste_clusters": {"days": 90},
    "history.plays": {"period": "yesterday", "limit": 3},
    "history.artist_history": {"artist": "Artist 0"},
    "history.track_history": {"track": "Song 1", "days": 90},
    "history.recap": {"period": "last_year", "limit": 3},
    "history.discoveries": {"days": 365},
    "history.on_this_day": {},
    "history.streaks": {"limit": 2},
    "history.sessions": {"days": 30},
    "spotify.get_top": {"entity": "tracks", "time_range": "short_term"},
    "spotify.search": {"q": "Song 1", "type": ["track", "artist"]},
    "ops.sync_status": {},
    "ops.latest_job_runs": {"limit": 5},
    "ops.latest_import_jobs": {},
    "spotify.create_playlist": {"name": "Mine", "source": "top_tracks"},
    "spotify.add_to_playlist": {"playlist_id": "3cEYpjA9oz9GiPac4AsH4n", "track_ids": ["4uLU6hMCjMI75M1A2tKUQC"]},
    "spotify.list_playlists": {},
}
# The typed error each Spotify tool answers here: the user never connected Spotify, and the playlist tools refuse
# an admin token that does not name the user before anything else (even on a one-user server).
SPOTIFY_ERRORS = {
    "spotify.get_top": "spotify_not_connected",
    "spotify.search": "spotify_not_connected",
    "spotify.create_playlist": "invalid_arguments",
    "spotify.add_to_playlist": "invalid_arguments",
    "spotify.list_playlists": "invalid_arguments",
}
WRITE_TOOLS = {"spotify_create_playlist", "spotify_add_to_playlist"}


@pytest.fixture
def history(database_url: str) -> History:
    found = standard_history(database_url, datetime.now(UTC))
    record_transform(database_url, datetime.now(UTC) - timedelta(minutes=5))
    return found


@pytest.fixture
def base(settings: Settings, database_url: str, history: History) -> Iterator[str]:
    del history
    with live_server(create_app(settings, database_url)) as url:
        yield url


def mcp_client(base: str, headers: dict[str, str], mode: str = "legacy") -> Client:
    transport = streamable_http_client(f"{base}/mcp", http_client=create_mcp_http_client(headers=headers))
    return Client(transport, mode=mode, cache=None)


async def http_answer(base: str, tool: str, args: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{base}/mcp/call", json={"tool": tool, "args": args}, headers=headers)
    body = response.json()
    return response.status_code, body["result"] if response.status_code == 200 else body["error"]["code"]


def test_every_tool_complete_in_registry() -> None:
    assert set(CALLS) == {tool.name for tool in REGISTRY.all()}


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_official_client_lists_and_calls_every_tool_with_the_same_answer_as_http(base: str, mode: str) -> None:
    async with mcp_client(base, ADMIN, mode) as client:
        expected_version = "2025-11-25" if mode == "legacy" else "2026-07-28"
        assert client.protocol_version == expected_version
        if mode == "legacy":
            assert client.instructions == INSTRUCTIONS
        listed = (await client.list_tools()).tools
        assert len(listed) == len(CALLS)
        for tool in listed:
            assert NAME.match(tool.name) and "." not in tool.name
            assert tool.description and tool.description.strip()
            assert tool.title
            assert tool.input_schema["type"] == "object" and "$ref" not in json.dumps(tool.input_schema)
            assert tool.output_schema is not None and tool.output_schema["type"] == "object"
            assert tool.annotations is not None and tool.annotations.read_only_hint is (tool.name not in WRITE_TOOLS)
            assert tool.annotations.destructive_hint is False
        output_schemas = {tool.name: tool.output_schema or {} for tool in listed}
        for name, args in CALLS.items():
            answer = await client.call_tool(name.replace(".", "_"), args)
            status, expected = await http_answer(base, name, args, ADMIN)
            if status == 200:
                assert answer.is_error is False, (name, answer.content)
                assert answer.structured_content == expected, name
                Draft202012Validator(output_schemas[name.replace(".", "_")]).validate(answer.structured_content)
                text = answer.content[0]
                assert text.type == "text" and json.loads(text.text) == expected
                async with httpx.AsyncClient(timeout=30) as http:
                    typed = await http.post(f"{base}/mcp/call/{name}", json=args, headers=ADMIN)
                assert typed.status_code == 200 and typed.json() == expected
            else:
                assert name.startswith("spotify."), (name, expected)
                assert answer.is_error is True
                error = json.loads(answer.content[0].text)["error"]  # type: ignore[union-attr]
                assert error["code"] == expected == SPOTIFY_ERRORS[name]


async def test_tool_errors_are_readable_results(base: str) -> None:
    async with mcp_client(base, ADMIN) as client:
        unknown = await client.call_tool("history_nope", {})
        assert unknown.is_error and "unknown_tool" in unknown.content[0].text  # type: ignore[union-attr]
        bad = await client.call_tool("history_top_artists", {"days": -1})
        assert bad.is_error
        error = json.loads(bad.content[0].text)["error"]  # type: ignore[union-attr]
        assert error["code"] == "invalid_arguments" and error["details"]["fields"][0]["field"] == "days"


async def test_user_token_reads_only_its_own_user_on_every_face(base: str, database_url: str, history: History) -> None:
    other = add_user(database_url, "UTC", "someone else")
    http = httpx.AsyncClient(timeout=30)
    created = await http.post(
        f"{base}/admin/users/{history.user_id}/api-tokens", json={"name": "claude"}, headers=ADMIN, timeout=30
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("smcp_") and created.json()["token_prefix"] == token[:11]
    mine = {"Authorization": f"Bearer {token}"}
    # own data without naming the user, on both faces
    status, own = await http_answer(base, "history.top_artists", {"days": 30}, mine)
    assert status == 200
    as_admin = await http_answer(base, "history.top_artists", {"days": 30, "user_id": str(history.user_id)}, ADMIN)
    assert own == as_admin[1]
    # another user's data: refused on every face
    assert await http_answer(base, "history.top_artists", {"user_id": str(other)}, mine) == (403, "forbidden")
    typed = await http.post(f"{base}/mcp/call/ops.sync_status", json={"user_id": str(other)}, headers=mine)
    assert typed.status_code == 403
    async with mcp_client(base, mine) as client:
        answer = await client.call_tool("history_top_artists", {"days": 30})
        assert answer.structured_content == own
        refused = await client.call_tool("ops_sync_status", {"user_id": str(other)})
        assert refused.is_error and json.loads(refused.content[0].text)["error"]["code"] == "forbidden"  # type: ignore[union-attr]
    query = {"user_id": str(history.user_id)}
    listed = (await http.get(f"{base}/admin/api-tokens", params=query, headers=ADMIN)).json()
    assert [item["id"] for item in listed] == [created.json()["id"]]
    assert "token" not in listed[0] and listed[0]["last_used_at"] is not None
    revoked = await http.delete(f"{base}/admin/api-tokens/{created.json()['id']}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert await http_answer(base, "history.top_artists", {}, mine) == (401, "unauthorized")
    rejected = await http.post(
        f"{base}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={**mine, "Accept": "application/json, text/event-stream"},
    )
    assert rejected.status_code == 401 and "Bearer" in rejected.headers["www-authenticate"]
    assert (await http.post(f"{base}/admin/users/{other}/api-tokens", json={})).status_code == 401
    await http.aclose()


def test_mcp_endpoint_checks_credentials_host_and_origin(base: str) -> None:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    accept = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(f"{base}/mcp", json=message, headers=accept).status_code == 401
    ok = httpx.post(f"{base}/mcp", json=message, headers={**ADMIN, **accept})
    assert ok.status_code == 200, ok.text
    assert ok.json()["result"]["serverInfo"]["name"] == "spotify-mcp"
    bad_host = httpx.post(f"{base}/mcp", json=message, headers={**ADMIN, **accept, "Host": "evil.example"})
    assert bad_host.status_code == 421
    bad_origin = httpx.post(f"{base}/mcp", json=message, headers={**ADMIN, **accept, "Origin": "http://evil.example"})
    assert bad_origin.status_code == 403
    local_origin = httpx.post(f"{base}/mcp", json=message, headers={**ADMIN, **accept, "Origin": base})
    assert local_origin.status_code == 200


def test_instructions_first_512_characters_stand_alone() -> None:
    head = INSTRUCTIONS[:512]
    assert "\n\n" in INSTRUCTIONS and len(INSTRUCTIONS.split("\n\n")[0]) <= 512
    assert head.split("\n\n")[0].endswith(".")
    for name in ("history_taste_summary", "history_compare_periods", "history_taste_clusters"):
        assert name in head


async def test_get_streams_end_after_their_lifetime_and_the_server_goes_on(
    settings: Settings, database_url: str
) -> None:
    """A GET /mcp event stream (2025-11-25 clients open one) is ended, complete, after MCP_STREAM_MAX_SECONDS;
    before, it stayed open for as long as the client kept it."""
    short = settings.model_copy(update={"mcp_stream_max_seconds": 1})
    stream_headers = {**ADMIN, "Accept": "text/event-stream", "MCP-Protocol-Version": "2025-11-25"}

    async def one_stream(http: httpx.AsyncClient, base: str) -> float:
        started = time.monotonic()
        async with http.stream("GET", f"{base}/mcp", headers=stream_headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            async for _ in response.aiter_bytes():  # a clean end: no RemoteProtocolError for a cut stream
                pass
        return time.monotonic() - started

    with live_server(create_app(short, database_url)) as base:
        async with httpx.AsyncClient(timeout=30) as http:
            # The bound only keeps a regression from hanging the suite (keep-alive pings defeat a read timeout);
            # it is far beyond the lifetime.
            async with asyncio.timeout(60):
                lived = await asyncio.gather(*(one_stream(http, base) for _ in range(3)))
            assert all(seconds >= 1 for seconds in lived), lived  # ended by the lifetime, not at once
            message = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
            accept = {"Accept": "application/json, text/event-stream"}
            after = await http.post(f"{base}/mcp", json=message, headers={**ADMIN, **accept})
            assert after.status_code == 200, after.text
