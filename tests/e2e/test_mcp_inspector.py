"""The MCP Inspector's CLI (from the npm registry, run by the Node.js the dev dependencies provide) lists and calls
the tools over real HTTP."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from typing import Any

import httpx

from core.settings import Settings
from serve.api.app import create_app
from serve.api_tokens import PREFIX_LENGTH
from tests import provisions
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import standard_history
from tests.live_server import live_server

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"


def inspector(url: str, token: str, *args: str) -> Any:
    npx, env = provisions.npx()
    command = [*npx, "-y", INSPECTOR, "--cli", url, "--transport", "http"]
    command += ["--header", f"Authorization: Bearer {token}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_inspector_cli_lists_and_calls_tools(settings: Settings, database_url: str) -> None:
    history = standard_history(database_url, datetime.now(UTC))
    with live_server(create_app(settings, database_url)) as base:
        created = httpx.post(
            f"{base}/admin/users/{history.user_id}/api-tokens",
            json={"name": "inspector"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        token = created.json()["token"]
        assert len(token) > PREFIX_LENGTH
        listed = inspector(f"{base}/mcp", token, "--method", "tools/list")
        names = {tool["name"] for tool in listed["tools"]}
        assert {"history_taste_summary", "history_top_artists", "ops_sync_status"} <= names
        called = inspector(
            f"{base}/mcp",
            token,
            "--method",
            "tools/call",
            "--tool-name",
            "history_top_artists",
            "--tool-arg",
            "days=30",
            "--tool-arg",
            "limit=3",
        )
        assert called.get("isError") is not True, called
        assert called["structuredContent"]["artists"][0]["artist_id"] == "artist0"
        assert len(called["structuredContent"]["artists"]) == 3
