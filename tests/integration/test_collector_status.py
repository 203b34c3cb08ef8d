"""What the owner sees of the collector's dealings with Spotify, after real polls against the fake: the Users
page's next poll and why, the dashboard's request budget, name-resolution backlog and notifications, a quota stop
shown wherever it matters, and `ops.sync_status` answering per user with the installation's budget."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import TokenCipher, generate_key
from core.dburl import libpq_url
from core.settings import Settings, load_settings
from core.spotify.policy import RetryPolicy
from ingest.collector import Collector
from serve.admin_ui.app import create_admin_app
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fakes.spotify import FakeSpotify, connect_user, spotify_env
from tests.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class Installation:
    fake: FakeSpotify
    settings: Settings
    api: str
    ui: str
    users: dict[str, UUID]


@pytest.fixture
def installation(database_url: str) -> Iterator[Installation]:
    fake = FakeSpotify()
    key = generate_key()
    with live_server(fake.app) as fake_base:
        users = {
            name: connect_user(database_url, TokenCipher([key]), fake, name, plays=plays)[0]
            for name, plays in (("ann", 12), ("ben", 3))
        }
        settings = load_settings(
            spotify_env(database_url, fake_base, key, INITIAL_SYNC_ENABLED="false", SPOTIFY_REQUEST_BUDGET="500")
        )
        with (
            live_server(create_app(settings, database_url)) as api,
            live_server(create_admin_app(settings, api_base_url=api, streamlit_url="http://127.0.0.1:9")) as ui,
        ):
            yield Installation(fake, settings, api, ui, users)


async def _collect(installation: Installation, engine: AsyncEngine) -> None:
    async with httpx.AsyncClient() as http:
        collector = Collector(
            engine,
            installation.settings,
            TokenCipher(installation.settings.encryption_keys),
            http,
            policy=RetryPolicy(base_delay=0.01),
        )
        report = await collector.run_cycle()
    assert report.polls == 2 and report.landed == 15


async def _pages(base: str, *paths: str) -> list[str]:
    """The pages as text, fetched signed in."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        assert (await client.post("/login", data={"token": ADMIN_TOKEN, "next": "/"})).status_code == 303
        return [_text((await client.get(path)).text) for path in paths]


async def _sync_status(installation: Installation, name: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=installation.api, timeout=30) as api:
        answer = await api.post(
            "/mcp/call",
            json={"tool": "ops.sync_status", "args": {"user_id": str(installation.users[name])}},
            headers=ADMIN,
        )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_users_page_dashboard_and_ops_tool_show_what_the_collector_does(
    installation: Installation, engine: AsyncEngine, database_url: str
) -> None:
    await _collect(installation, engine)
    spent = len(installation.fake.calls) + len(installation.fake.token_grants)
    users, dashboard = await _pages(installation.ui, "/users", "/")
    # Users page: each connected user's next poll, and why then.
    assert users.count("next poll ") == 2 and "plays/h: every 58 min keeps fewer than 50 plays" in users
    assert "(+12 plays)" in users and "(+3 plays)" in users
    # Dashboard: the budget of the whole installation, per purpose; the backlog; notifications.
    assert f"{spent} of 500 requests in the last 24 h ({500 - spent} left" in dashboard
    assert re.search(r"polling 2 \d+", dashboard) and "NOTIFY_URLS is not set" in dashboard
    assert "No name-only tracks" in dashboard and "Nothing needed you yet." in dashboard

    result = await _sync_status(installation, "ann")
    async with httpx.AsyncClient(base_url=installation.api, timeout=30) as api:
        status = (await api.get("/admin/collector-status", headers=ADMIN)).json()
    assert result["last_poll_completed_at"] is not None and result["last_poll_new_plays"] == 12
    assert result["polls_24h"] == 1 and result["new_plays_per_poll_24h"] == 12.0
    assert result["poll_interval_seconds"] == 3500 and "plays/h" in result["next_poll_reason"]
    next_poll = datetime.fromisoformat(result["next_poll_at"])
    last_poll = datetime.fromisoformat(result["last_poll_completed_at"])
    assert next_poll - last_poll == timedelta(seconds=3500)
    budget = result["budget"]
    assert (budget["per_day"], budget["used"], budget["remaining"]) == (500, spent, 500 - spent)
    assert budget["resets_at"] is not None and budget["blocked_until"] is None
    assert status["budget"]["by_purpose"]["polling"] == 2 and status["budget"]["limits"]["tools"] == 500 - 200 - 50


async def test_a_quota_stop_and_the_backlog_are_shown(installation: Installation, database_url: str) -> None:
    until = datetime.now(UTC) + timedelta(hours=13)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO app.spotify_quota_blocks (started_at, blocked_until, reason, endpoint, retry_after_seconds) "
            "VALUES (now(), %s, 'QUOTA_EXCEEDED', 'GET /me/player/recently-played', 46800)",
            (until,),
        )
        for n in range(3):
            connection.execute(
                "INSERT INTO raw.tracks (track_id, name, source) VALUES (%s, %s, 'import_zip')", (f"local:{n}", f"S{n}")
            )
        connection.execute(
            "INSERT INTO raw.track_resolutions (local_track_id, status, method, lookup_key) "
            "VALUES ('local:0', 'not_found', 'search', 's0|a')"
        )
        connection.execute(
            "INSERT INTO app.notifications (event_key, kind, title, body, status) "
            "VALUES ('quota_exhausted:1', 'quota_exhausted', 'Spotify quota exhausted until later', 'b', "
            "'unconfigured')"
        )
    shown = f"{until:%Y-%m-%d %H:%M} UTC"
    users, dashboard = await _pages(installation.ui, "/users", "/")
    assert f"no user is polled until {shown}" in users and "QUOTA_EXCEEDED" in users
    assert "Spotify stopped this app's requests (QUOTA_EXCEEDED)" in dashboard and shown in dashboard
    assert "0 resolved · 0 ambiguous · 1 not found · 2 pending (1 Spotify searches so far" in dashboard
    assert "unconfigured" in dashboard and "Spotify quota exhausted until later" in dashboard
    budget = (await _sync_status(installation, "ben"))["budget"]
    assert budget["blocked_reason"] == "QUOTA_EXCEEDED"
    assert datetime.fromisoformat(budget["blocked_until"]) == until.replace(microsecond=until.microsecond)
