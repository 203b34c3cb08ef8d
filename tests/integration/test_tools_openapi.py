"""OpenAPI for a Custom GPT Action (validates, operation ids, short descriptions, bearer auth, server URL) and
the `spotify-mcp token` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from openapi_spec_validator import validate

from core.crypto import generate_key
from core.settings import load_settings
from serve.api.app import create_app
from serve.tools.catalog import REGISTRY
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import add_user
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_documents_validate_and_fit_a_custom_gpt(database_url: str, tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": generate_key(),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SPOTIFY_MCP_HOME": str(tmp_path / "home"),
            "PUBLIC_BASE_URL": "https://music.example.org",
        }
    )
    with live_server(create_app(settings, database_url)) as base:
        full = httpx.get(f"{base}/openapi.json").json()
        gpt: dict[str, Any] = httpx.get(f"{base}/mcp/openapi.json").json()
    validate(full)
    validate(gpt)
    assert gpt["servers"] == [{"url": "https://music.example.org"}]
    assert gpt["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    operations = [operation for item in gpt["paths"].values() for operation in item.values()]
    ids = [operation["operationId"] for operation in operations]
    assert len(ids) == len(set(ids)) and len(ids) <= 30
    assert {tool.operation_id for tool in REGISTRY.all()} | {"call_tool", "list_tools"} == set(ids)
    for operation in operations:
        assert 0 < len(operation.get("description", operation.get("summary", ""))) < 300
    assert all(path.startswith("/mcp/") for path in gpt["paths"])
    typed = gpt["paths"]["/mcp/call/history.top_artists"]["post"]
    properties = typed["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"days", "period", "limit"} <= set(properties) and "user_id" not in properties  # a GPT holds a user token
    assert "200" in typed["responses"]
    assert "bearerAuth" in full["components"]["securitySchemes"]


def test_token_command_creates_lists_and_revokes(database_url: str, tmp_path: Path) -> None:
    user = add_user(database_url, "UTC", "cli user")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SPOTIFY_MCP_HOME": str(tmp_path / "home"),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "token", *args], env=env, cwd=ROOT, capture_output=True, text=True
        )

    created = run("create", "--user", str(user), "--name", "claude desktop")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("smcp_") and "shown once" in created.stderr
    listed = run("list", "--user", str(user))
    assert listed.returncode == 0 and "claude desktop" in listed.stdout and token not in listed.stdout
    token_id = listed.stdout.split()[0]
    assert run("revoke", token_id).returncode == 0
    assert "revoked" in run("list").stdout
    missing = run("create", "--user", "nobody")
    assert missing.returncode != 0 and "no user matches `nobody`" in missing.stderr
