"""The README's walkthrough, done as a newcomer does it: `spotify-mcp up --demo` in a clean home.

No configuration but free ports (so the test never collides with anything else on the machine): the
embedded PostgreSQL, the generated secrets, the demo import and the transform all happen by themselves.
Then an assistant's call through /mcp/call and through the official MCP client, the admin UI in Chromium,
Ctrl-C, nothing left running, and a restart that finds the data again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from playwright.sync_api import expect, sync_playwright

from core.embedded_pg import EmbeddedPostgres
from tests.live_server import free_port
from tests.provisions import chromium, launch_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "walkthrough"
STARTUP_LIMIT_SECONDS = 240


class Install:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.api_port, self.ui_port, self.dashboards_port = free_port(), free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.ui = f"http://127.0.0.1:{self.ui_port}"

    def env(self) -> dict[str, str]:
        env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
        return env | {
            "SPOTIFY_MCP_HOME": str(self.home),
            "API_PORT": str(self.api_port),
            "ADMIN_UI_PORT": str(self.ui_port),
            "DASHBOARDS_PORT": str(self.dashboards_port),
        }

    def admin_headers(self) -> dict[str, str]:
        secrets = json.loads((self.home / "secrets.json").read_text())
        return {"Authorization": f"Bearer {secrets['ADMIN_TOKEN']}"}


@pytest.fixture
def install(server_home: Path) -> Install:
    return Install(server_home)


def _start(install: Install, *extra: str, log_name: str) -> subprocess.Popen[bytes]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / log_name).open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", *extra],
        cwd=ROOT,
        env=install.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_healthy(install: Install, process: subprocess.Popen[bytes], log_name: str) -> float:
    """Until the services answer and `up` has said so — what a person waits for before using it. (Ctrl-C before
    `up` prints that it is running is a stop during start-up, which exits 130 by design.)"""
    started = time.monotonic()
    while time.monotonic() - started < STARTUP_LIMIT_SECONDS:
        assert process.poll() is None, f"`up` exited early with {process.returncode}; see {ARTIFACTS}"
        try:
            answering = all(
                httpx.get(f"{base}/healthz", timeout=2).status_code == 200 for base in (install.api, install.ui)
            )
            if answering and "spotify-mcp is running." in (ARTIFACTS / log_name).read_text():
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not healthy after {STARTUP_LIMIT_SECONDS}s; see {ARTIFACTS}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # what Ctrl-C does
    assert process.wait(60) == 0
    # Nothing of its session may still run (an exited grandchild waiting to be reaped, state Z, is not running).
    listing = subprocess.run(["ps", "-o", "stat=,cmd=", "-s", str(process.pid)], capture_output=True, text=True).stdout
    running = [line for line in listing.splitlines() if line.strip() and not line.strip().startswith("Z")]
    assert running == [], f"left running: {running}"


def _taste_summary(install: Install, user_id: str) -> dict[str, Any]:
    response = httpx.post(
        f"{install.api}/mcp/call",
        json={"tool": "history.taste_summary", "args": {"days": 90, "user_id": user_id}},
        headers=install.admin_headers(),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


async def _mcp_taste_summary(install: Install, user_id: str) -> dict[str, Any]:
    transport = streamable_http_client(
        f"{install.api}/mcp", http_client=create_mcp_http_client(headers=install.admin_headers())
    )
    async with Client(transport, cache=None) as client:
        answer = await client.call_tool("history_taste_summary", {"days": 90, "user_id": user_id})
    assert answer.is_error is False, answer.content
    structured: dict[str, Any] | None = answer.structured_content
    assert structured is not None
    return structured


def test_up_demo_answers_then_stops_cleanly_and_keeps_its_data(install: Install) -> None:
    chromium()  # the walkthrough ends in the browser: know before starting anything that there is one
    process = _start(install, "--demo", log_name="up-demo.log")
    try:
        seconds = _wait_healthy(install, process, "up-demo.log")
        print(f"\n`spotify-mcp up --demo` healthy with answers after {seconds:.1f}s")
        users = httpx.get(f"{install.api}/admin/users", headers=install.admin_headers(), timeout=10).json()["items"]
        demo = next(user for user in users if user["display_name"] == "Demo listener")
        summary = _taste_summary(install, demo["id"])
        assert summary["plays"] > 500
        assert summary["top_artists"] and summary["top_tracks"]
        assert summary["clusters"], "the transform built taste clusters for the demo user"
        through_mcp = asyncio.run(_mcp_taste_summary(install, demo["id"]))
        assert (through_mcp["plays"], through_mcp["unique_tracks"]) == (summary["plays"], summary["unique_tracks"])

        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{install.ui}/users")
            token = install.admin_headers()["Authorization"].removeprefix("Bearer ")
            page.get_by_label("Admin token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_text("Demo listener").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "users.png"), full_page=True)
            browser.close()
    finally:
        if process.poll() is None:
            _stop(process)
    for port in (install.api_port, install.ui_port, install.dashboards_port):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    # One readable stream: the addresses once they answer, what happened, how it stopped — no servers' chatter.
    console = (ARTIFACTS / "up-demo.log").read_text()
    assert console.index("spotify-mcp is running.") > console.index("starting the API")
    assert f"admin UI     {install.ui}" in console and "spotify-mcp stopped. Your data stays in" in console
    for noise in ("Waiting for application startup", "Uvicorn running on", "leaked semaphore", "Started server"):
        assert noise not in console, noise
    assert not EmbeddedPostgres(install.home).is_running()

    again = _start(install, log_name="up-restart.log")
    try:
        _wait_healthy(install, again, "up-restart.log")
        after = _taste_summary(install, demo["id"])
        assert (after["plays"], after["unique_tracks"]) == (summary["plays"], summary["unique_tracks"])
    finally:
        _stop(again)
