"""What a person's assistant gets from every face, over real HTTP: a tool list within its size budget, `user_id` for
the admin only (MCP, /mcp/tools, the GPT OpenAPI), read-only hints, Spotify links in the answers, and the MCP Apps
served as `ui://` resources that the tools name (tests/e2e/test_mcp_apps_browser.py draws them in Chromium)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from core.settings import Settings
from serve import mcp_apps
from serve.api.app import create_app
from serve.tools.catalog import REGISTRY
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import Listen, add_user, create_marts, load_listens, record_transform, standard_history
from tests.live_server import live_server

WRITE_TOOLS = {"spotify_create_playlist", "spotify_add_to_playlist"}
USER_LIST_BUDGET = 40_000  # bytes of a user token's tools/list response (issue 18)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
APPS_OF_TOOLS = {
    "history_listening_heatmap": mcp_apps.LISTENING_HEATMAP.uri,
    "history_top_artists": mcp_apps.TOP_CHARTS.uri,
    "history_top_tracks": mcp_apps.TOP_CHARTS.uri,
    "history_recap": mcp_apps.RECAP_CARD.uri,
    "history_artist_history": mcp_apps.ARTIST_TIMELINE.uri,
    "history_track_history": mcp_apps.ARTIST_TIMELINE.uri,
}


def user_token(base: str, user_id: object) -> str:
    created = httpx.post(f"{base}/admin/users/{user_id}/api-tokens", json={"name": "assistant"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    token: str = created.json()["token"]
    return token


@pytest.fixture
def stack(settings: Settings, database_url: str) -> Iterator[tuple[str, str]]:
    """The API on loopback with a standard history, and a user token for its user."""
    history = standard_history(database_url, datetime.now(UTC))
    record_transform(database_url, datetime.now(UTC) - timedelta(minutes=5))
    with live_server(create_app(settings, database_url)) as base:
        yield base, user_token(base, history.user_id)


def rpc(base: str, token: str, version: str, method: str, params: dict[str, Any] | None = None) -> httpx.Response:
    """One JSON-RPC request as a client of that protocol generation sends it (2026-07-28: envelope and headers)."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    headers["MCP-Protocol-Version"] = version
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, "params": dict(params or {})}
    if version == "2026-07-28":
        headers["Mcp-Method"] = method
        if "name" in body["params"]:
            headers["Mcp-Name"] = body["params"]["name"]
        body["params"]["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    return httpx.post(f"{base}/mcp", json=body, headers=headers, timeout=30)


@pytest.mark.parametrize("version", ["2025-11-25", "2026-07-28"])
def test_tool_list_of_a_user_token_fits_the_budget_and_only_the_admin_chooses_the_user(
    stack: tuple[str, str], version: str
) -> None:
    base, token = stack
    listed = rpc(base, token, version, "tools/list")
    assert listed.status_code == 200, listed.text
    print(f"\ntools/list for a user token, protocol {version}: {len(listed.content)} bytes")
    assert len(listed.content) <= USER_LIST_BUDGET
    tools = listed.json()["result"]["tools"]
    assert len(tools) == len(REGISTRY.all())
    for tool in tools:
        assert "user_id" not in tool["inputSchema"]["properties"], tool["name"]
        # Only the playlist writes change anything (issue 19), and never destructively.
        assert tool["annotations"]["readOnlyHint"] is (tool["name"] not in WRITE_TOOLS), tool["name"]
        assert tool["annotations"]["destructiveHint"] is False
    assert {tool["name"]: tool["_meta"]["ui"]["resourceUri"] for tool in tools if "_meta" in tool} == APPS_OF_TOOLS
    admin = rpc(base, ADMIN_TOKEN, version, "tools/list").json()["result"]["tools"]
    assert all("user_id" in tool["inputSchema"]["properties"] for tool in admin)


def test_http_tool_list_and_gpt_openapi_offer_user_id_to_the_admin_only(stack: tuple[str, str]) -> None:
    base, token = stack

    def arguments(headers: dict[str, str]) -> list[set[str]]:
        tools = httpx.get(f"{base}/mcp/tools", headers=headers).json()["tools"]
        return [set(tool["input_schema"]["properties"]) for tool in tools]

    assert not any("user_id" in names for names in arguments({}))
    assert not any("user_id" in names for names in arguments({"Authorization": f"Bearer {token}"}))
    assert all("user_id" in names for names in arguments(ADMIN))
    gpt = httpx.get(f"{base}/mcp/openapi.json").json()
    operations = [operation for item in gpt["paths"].values() for operation in item.values()]
    assert len(operations) == len(REGISTRY.all()) + 2
    for operation in operations:  # ChatGPT confirms only calls that may write: the playlist tools, the generic call
        writes = operation["operationId"] in WRITE_TOOLS or operation["operationId"] == "call_tool"
        assert operation["x-openai-isConsequential"] is writes, operation["operationId"]
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        assert "user_id" not in body.get("properties", {}), operation["operationId"]
    full = httpx.get(f"{base}/openapi.json").json()  # the whole API (admin docs) keeps the argument
    typed = full["paths"]["/mcp/call/history.top_artists"]["post"]["requestBody"]["content"]["application/json"]
    assert "user_id" in typed["schema"]["properties"]
    # A user token's call without the argument reads its own user (test_mcp_server covers naming another user).
    mine = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{base}/mcp/call/history.coverage", json={"days": 7}, headers=mine).status_code == 200


def mcp_client(base: str, token: str, mode: str) -> Client:
    session = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(f"{base}/mcp", http_client=session), mode=mode, cache=None)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_apps_are_self_contained_ui_resources_named_by_their_tools(stack: tuple[str, str], mode: str) -> None:
    base, token = stack
    # The extension is announced where the protocol has a place for it (2026-07-28 `capabilities.extensions`; the
    # SDK leaves the field out of 2025-11-25 answers, whose hosts go by the tools' `_meta.ui`).
    discovered = rpc(base, token, "2026-07-28", "server/discover").json()["result"]["capabilities"]
    assert discovered["extensions"] == {mcp_apps.EXTENSION_ID: {}} and "resources" in discovered
    async with mcp_client(base, token, mode) as client:
        listed = (await client.list_resources()).resources
        assert {resource.uri for resource in listed} == {app.uri for app in mcp_apps.APPS}
        assert set(APPS_OF_TOOLS.values()) <= {resource.uri for resource in listed}
        for resource in listed:
            assert resource.mime_type == "text/html;profile=mcp-app" and resource.title and resource.description
            read = await client.read_resource(resource.uri)
            (content,) = read.contents
            assert content.uri == resource.uri and content.mime_type == "text/html;profile=mcp-app"
            assert content.meta == {"ui": {"prefersBorder": True}}
            html = content.text  # type: ignore[union-attr]
            assert html.startswith("<!doctype html>") and "<!-- include" not in html
            assert "ui/initialize" in html and "ui/notifications/tool-result" in html
            # Self-contained: nothing to fetch, no address to reach (the hosts' CSP allows no connection).
            for needle in ("http://", "https://", "fetch(", "XMLHttpRequest", "WebSocket", " src=", "@import"):
                assert needle not in html, (resource.uri, needle)
        with pytest.raises(MCPError) as unknown:
            await client.read_resource("ui://spotify-mcp/nope")
        assert unknown.value.code == -32602 and unknown.value.data == {"uri": "ui://spotify-mcp/nope"}
        assert "ui://spotify-mcp/top-charts" in unknown.value.message


async def test_answers_link_to_spotify_where_spotify_knows_the_item(settings: Settings, database_url: str) -> None:
    create_marts(database_url)
    user = add_user(database_url, "UTC")
    now = datetime.now(UTC).replace(microsecond=0)
    track, artist = "4uLU6hMCjMI75M1A2tKUQC", "0gxyHStUsqpMadRV0Di1Qt"  # shaped like Spotify's ids
    listens = [Listen(now - timedelta(hours=hour), track, artist) for hour in range(1, 4)]
    listens.append(Listen(now - timedelta(hours=5), "local:t1", "local:a1"))
    load_listens(database_url, user, "UTC", listens, {track: "Never Gonna Give You Up", artist: "Rick Astley"})
    record_transform(database_url, now)
    with live_server(create_app(settings, database_url)) as base:
        token = user_token(base, user)
        async with mcp_client(base, token, "legacy") as client:
            tracks = (await client.call_tool("history_top_tracks", {"days": 7})).structured_content
            artists = (await client.call_tool("history_top_artists", {"days": 7})).structured_content
    assert tracks is not None and artists is not None
    by_id = {item["track_id"]: item for item in tracks["tracks"]}
    assert by_id[track]["spotify_url"] == f"https://open.spotify.com/track/{track}"
    assert by_id[track]["artist_spotify_url"] == f"https://open.spotify.com/artist/{artist}"
    assert by_id["local:t1"]["spotify_url"] is None and by_id["local:t1"]["artist_spotify_url"] is None
    links = {item["artist_id"]: item["spotify_url"] for item in artists["artists"]}
    assert links == {artist: f"https://open.spotify.com/artist/{artist}", "local:a1": None}


def test_routing_headers_may_carry_whitespace_around_the_value(stack: tuple[str, str]) -> None:
    """RFC 9110 §5.5: the value of `Mcp-Name: ␠␠history_coverage␠␠` is `history_coverage`."""
    base, token = stack
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "history_coverage",
            "arguments": {"days": 7},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "  history_coverage  ",
        "Content-Type": "application/json",
    }
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=30)
    try:  # http.client sends the value as given (httpx refuses whitespace around it)
        connection.request("POST", "/mcp", body=json.dumps(body), headers=headers)
        answer = connection.getresponse()
        status, text = answer.status, answer.read().decode()
    finally:
        connection.close()
    assert status == 200, text
    assert json.loads(text)["result"]["isError"] is False
