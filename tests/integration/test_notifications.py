"""Notifications through Apprise to a real HTTP receiver on loopback (a generic JSON webhook and an ntfy server),
configured from the environment: every event kind, each sent once to each URL, retried where delivery failed
and only there, recorded without URLs; and the collector sending one when Spotify ends a user's access."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.crypto import TokenCipher, generate_key
from core.dburl import libpq_url
from core.settings import Settings, load_settings
from core.spotify.policy import RetryPolicy
from ingest.collector import Collector
from ingest.notifications import BACKOFF, Notifier, fingerprint, send_test
from tests.fakes.spotify import FakeSpotify, connect_user, spotify_env
from tests.live_server import live_server


@dataclass
class Receiver:
    """What a webhook endpoint and an ntfy server received; `failing` paths answer 500."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        body = json.loads(await request.body())
        with self.lock:
            self.received.append((path, body))
        if path in self.failing:
            return JSONResponse({"error": "down for maintenance"}, 500)
        return JSONResponse({"ok": True})

    def titles(self, path: str) -> list[str]:
        with self.lock:
            return sorted(str(body["title"]) for got, body in self.received if got == path)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    app = Starlette(routes=[Route("/{path:path}", state.handle, methods=["POST"])])
    with live_server(app) as base:
        yield state, base.removeprefix("http://")


def _settings(database_url: str, tmp_home: str, urls: str, **extra: str) -> Settings:
    return load_settings(
        {
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": generate_key(),
            "ADMIN_TOKEN": "test-admin-token-0123456789",
            "SPOTIFY_MCP_HOME": tmp_home,
            "NOTIFY_URLS": urls,  # as an operator sets it: one environment string
            "NOTIFY_POLL_FAILURES": "3",
            **extra,
        }
    )


def _execute(database_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        cursor = connection.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


def _user(database_url: str, name: str, *, status: str = "active", expires_in: timedelta | None = None) -> UUID:
    row = _execute(
        database_url,
        "INSERT INTO app.users (display_name, spotify_user_id, status) VALUES (%s, %s, %s) RETURNING id",
        name,
        name.lower(),
        status,
    )
    user_id: UUID = row[0][0]
    _execute(
        database_url,
        "INSERT INTO app.spotify_tokens (user_id, refresh_token_enc, scope, consented_at, refresh_token_expires_at) "
        "VALUES (%s, 'x', 'user-read-recently-played', now() - interval '5 months', now() + %s)",
        user_id,
        expires_in or timedelta(days=60),
    )
    _execute(database_url, "INSERT INTO app.sync_checkpoints (user_id) VALUES (%s)", user_id)
    return user_id


def _every_event(database_url: str) -> None:
    _user(database_url, "Ann", status="needs_reauth")
    _user(database_url, "Ben", expires_in=timedelta(days=10))
    _user(database_url, "Far", expires_in=timedelta(days=40))  # not yet: outside the 14 days
    cat = _user(database_url, "Cat")
    _execute(
        database_url,
        "UPDATE app.sync_checkpoints SET status = 'error', consecutive_errors = 3, "
        "error_message = 'SpotifyUnavailable: Spotify answered 503 4 times' WHERE user_id = %s",
        cat,
    )
    _execute(
        database_url,
        "INSERT INTO app.spotify_quota_blocks (started_at, blocked_until, reason, endpoint, retry_after_seconds) "
        "VALUES (now(), now() + interval '14 hours', 'QUOTA_EXCEEDED', 'GET /me/player/recently-played', 50400)",
    )
    _execute(
        database_url,
        "INSERT INTO app.import_jobs (user_id, storage_path, original_filename, origin, file_size_bytes, status, "
        "finished_at, error_message) VALUES (%s, '/x/1f3a.zip', 'my_spotify_data.zip', 'upload', 10, 'error', now(), "
        "'my_spotify_data.zip is not a readable ZIP file')",
        cat,
    )


EXPECTED_TITLES = [
    "Ben's Spotify connection ends on {ben}",
    "Import of my_spotify_data.zip failed",
    "Polling Cat has failed 3 times in a row",
    "Spotify needs Ann to connect again",
    "Spotify quota exhausted until {until}",
]


def _expected(database_url: str) -> list[str]:
    expiry = _execute(
        database_url,
        "SELECT t.refresh_token_expires_at FROM app.spotify_tokens t JOIN app.users u ON u.id = t.user_id "
        "WHERE u.display_name = 'Ben'",
    )[0][0]
    until = _execute(database_url, "SELECT blocked_until FROM app.spotify_quota_blocks")[0][0]
    return sorted(
        title.format(ben=f"{expiry:%Y-%m-%d}", until=until.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        for title in EXPECTED_TITLES
    )


async def test_every_event_reaches_every_url_once(
    receiver: tuple[Receiver, str], database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    state, host = receiver
    settings = _settings(database_url, str(tmp_path), f"json://{host}/hook, ntfy://{host}/alerts")
    assert len(settings.notify_urls) == 2
    _every_event(database_url)
    notifier = Notifier(engine, settings)
    new = await notifier.run(datetime.now(UTC))
    assert len(new) == 5
    expected = _expected(database_url)
    assert state.titles("/hook") == expected and state.titles("/") == expected  # ntfy posts to its root
    ntfy = [body for path, body in state.received if path == "/"]
    assert {body["topic"] for body in ntfy} == {"alerts"}
    quota = next(body for path, body in state.received if path == "/hook" and "quota" in body["title"])
    assert "QUOTA_EXCEEDED" in quota["message"] and "polling resumes by itself" in quota["message"]
    # Found again on the next cycles: nothing new, nothing sent again.
    assert await notifier.run(datetime.now(UTC)) == [] and await notifier.run(datetime.now(UTC)) == []
    assert len(state.received) == 10
    rows = _execute(database_url, "SELECT status, attempts, delivered, sent_at IS NOT NULL FROM app.notifications")
    urls = [url.get_secret_value() for url in settings.notify_urls]
    assert rows == [("sent", 1, [fingerprint(url) for url in urls], True)] * 5
    stored = json.dumps(_execute(database_url, "SELECT * FROM app.notifications"), default=str)
    assert host not in stored  # URLs (webhook secrets) are never stored


async def test_a_failing_url_is_retried_alone_with_backoff(
    receiver: tuple[Receiver, str], database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    state, host = receiver
    state.failing.add("/down")
    settings = _settings(database_url, str(tmp_path), f"json://{host}/hook\njson://{host}/down")
    _user(database_url, "Ann", status="needs_reauth")
    notifier = Notifier(engine, settings)
    now = datetime.now(UTC)
    await notifier.run(now)
    status, attempts, error, next_attempt = _execute(
        database_url, "SELECT status, attempts, last_error, next_attempt_at FROM app.notifications"
    )[0]
    assert (status, attempts) == ("pending", 1)
    assert error.startswith("NOTIFY_URLS #2:") and host not in error
    assert next_attempt == now + BACKOFF[0]
    await notifier.run(now + timedelta(seconds=10))  # not due yet
    assert len(state.titles("/down")) == 1
    state.failing.clear()
    await notifier.run(now + BACKOFF[0] + timedelta(seconds=1))
    assert state.titles("/hook") == ["Spotify needs Ann to connect again"]  # not sent twice to the good URL
    assert state.titles("/down") == ["Spotify needs Ann to connect again"] * 2
    assert _execute(database_url, "SELECT status, attempts FROM app.notifications") == [("sent", 2)]


async def test_without_urls_events_are_recorded_not_sent(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": generate_key(),
            "ADMIN_TOKEN": "test-admin-token-0123456789",
            "SPOTIFY_MCP_HOME": str(tmp_path),
        }
    )
    _user(database_url, "Ann", status="needs_reauth")
    await Notifier(engine, settings).run(datetime.now(UTC))
    assert _execute(database_url, "SELECT kind, status FROM app.notifications") == [("needs_reauth", "unconfigured")]


async def test_send_test_reports_each_url(receiver: tuple[Receiver, str], database_url: str, tmp_path: Path) -> None:
    state, host = receiver
    state.failing.add("/down")
    settings = _settings(database_url, str(tmp_path), f'["json://{host}/hook", "json://{host}/down", "bogus://x"]')
    results = await send_test(settings)
    assert [position for position, problem in results if problem is None] == [1]
    problems = dict(results)
    assert "not a valid Apprise URL" in str(problems[3]) and problems[2] is not None
    assert state.titles("/hook") == ["spotify-mcp test notification"]


async def test_the_collector_tells_the_owner_when_spotify_ends_a_users_access(
    receiver: tuple[Receiver, str], database_url: str, engine: AsyncEngine
) -> None:
    state, host = receiver
    fake = FakeSpotify()
    key = generate_key()
    with live_server(fake.app) as fake_base:
        connect_user(database_url, TokenCipher([key]), fake, "ann", plays=3, access_token_valid=False)
        fake.revoke("ann")
        settings = load_settings(
            spotify_env(database_url, fake_base, key, INITIAL_SYNC_ENABLED="false", NOTIFY_URLS=f"json://{host}/hook")
        )
        async with httpx.AsyncClient() as http:
            collector = Collector(engine, settings, TokenCipher([key]), http, policy=RetryPolicy(base_delay=0.01))
            report = await collector.run_cycle()
            assert report.notified == 1
            await collector.run_cycle()
    assert state.titles("/hook") == ["Spotify needs User ann to connect again"]
    message = state.received[0][1]["message"]
    assert "/auth/login" in message and "last 50 plays" in message
