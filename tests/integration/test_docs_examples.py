"""The examples in docs/chatgpt.md and docs/mcp-clients.md work as written: every `spotify-mcp` command line is
accepted by the real command parser, every API endpoint they name exists, the curl examples answer over real HTTP,
the Claude Desktop config is valid JSON, and the Inspector version is the one tests/e2e/test_mcp_inspector.py runs."""

from __future__ import annotations

import json
import re
import shlex
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cli.main import build_parser
from core.settings import Settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.e2e.test_mcp_inspector import INSPECTOR
from tests.fixtures.marts import record_transform, standard_history
from tests.live_server import live_server

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ("chatgpt.md", "mcp-clients.md")
# The placeholders the pages use, and a value of the right shape for each.
PLACEHOLDERS = {"USER": str(uuid.uuid4()), "GRANT_ID": str(uuid.uuid4()), "TOKEN_ID": str(uuid.uuid4()), "NAME": "ada"}
ENDPOINT = re.compile(r"`(GET|POST|PUT|DELETE) (/[^`?\s]+)")


def _text() -> str:
    return "\n".join((DOCS / page).read_text() for page in PAGES)


def _code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _text(), flags=re.DOTALL)


def _commands() -> list[list[str]]:
    """Every `uv run spotify-mcp ...` in code blocks and inline code, without comments, placeholders filled in."""
    lines = [line for block in _code_blocks("sh") for line in block.splitlines()]
    lines += re.findall(r"`(uv run spotify-mcp [^`]+)`", _text())
    found = []
    for line in lines:
        if not line.startswith("uv run spotify-mcp "):
            continue
        words = shlex.split(line, comments=True)[3:]
        found.append([PLACEHOLDERS.get(word, word) for word in words])
    return found


def test_every_command_in_the_docs_is_accepted_as_written() -> None:
    commands = _commands()
    assert len(commands) >= 8, commands
    assert ["signin", "password", "--user", PLACEHOLDERS["USER"], "--login", "ada"] in commands
    for words in commands:
        try:
            build_parser(words).parse_args(words)
        except SystemExit as error:  # argparse's way of saying no
            raise AssertionError(f"docs: `spotify-mcp {' '.join(words)}` is refused by the command") from error


def test_the_config_snippets_are_valid_and_the_inspector_pinned_as_tested() -> None:
    (desktop,) = _code_blocks("json")
    config = json.loads(desktop)
    assert config["mcpServers"]["spotify"]["command"] == "npx"
    inspector_lines = [line for line in _text().splitlines() if "@modelcontextprotocol/inspector@" in line]
    assert inspector_lines and all(INSPECTOR in line for line in inspector_lines)


@pytest.fixture
def api(settings: Settings, database_url: str) -> Iterator[tuple[str, str]]:
    history = standard_history(database_url, datetime.now(UTC))
    record_transform(database_url, datetime.now(UTC) - timedelta(minutes=5))
    with live_server(create_app(settings, database_url)) as base:
        created = httpx.post(
            f"{base}/admin/users/{history.user_id}/api-tokens",
            json={"name": "docs"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        yield base, created.json()["token"]


def test_every_endpoint_named_in_the_docs_exists(api: tuple[str, str]) -> None:
    base, _ = api
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    known = {(method.upper(), re.sub(r"\{[^}]+\}", "{}", path)) for path, item in paths.items() for method in item}
    named = {(method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path in ENDPOINT.findall(_text())}
    assert len(named) >= 10
    assert named <= known, sorted(named - known)


def test_the_curl_examples_answer_as_written(api: tuple[str, str]) -> None:
    base, token = api
    commands = [" ".join(part.strip() for part in block.split("\\\n")) for block in _code_blocks("sh")]
    curls = [line for command in commands for line in command.splitlines() if line.startswith("curl ")]
    assert len(curls) >= 2
    for line in curls:
        words = shlex.split(line.replace("URL", f"{base}/mcp").replace("TOKEN", token))[1:]
        headers: dict[str, str] = {}
        body = ""
        url = ""
        while words:
            word = words.pop(0)
            if word == "-H":
                name, _, value = words.pop(0).partition(":")
                headers[name] = value.strip()
            elif word == "-d":
                body = words.pop(0)
            elif word != "-s":
                url = word
        answer = httpx.post(url, content=body, headers=headers, timeout=30)
        assert answer.status_code == 200, (line, answer.text)
        result = answer.json()["result"]
        assert result.get("isError") is not True and ("structuredContent" in result or "contents" in result), result
