"""The collector against the fake Spotify (real HTTP) and a real PostgreSQL: initial sync stop conditions one
by one, idempotent polling with the `after` cursor, refresh on expiry, invalid_grant isolation, rate limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import TokenCipher, generate_key
from core.db import create_engine
from core.dburl import libpq_url
from core.settings import load_settings
from core.spotify.policy import RetryPolicy
from ingest.collector import Collector, CycleReport
from ingest.landing import land_plays
from tests.fakes.spotify import FakeSpotify, connect_user, spotify_env, to_ms
from tests.live_server import live_server

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)


@dataclass
class World:
    fake: FakeSpotify
    base: str
    database_url: str
    key: str
    cipher: TokenCipher
    engine: AsyncEngine
    http: httpx.AsyncClient

    def collector(self, **env: str) -> Collector:
        settings = load_settings(spotify_env(self.database_url, self.base, self.key, **env))
        return Collector(self.engine, settings, self.cipher, self.http, policy=FAST, tick_seconds=0.1)

    def connect(self, spotify_user_id: str, **kwargs: Any) -> UUID:
        user_id, _ = connect_user(self.database_url, self.cipher, self.fake, spotify_user_id, **kwargs)
        return user_id

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(libpq_url(self.database_url)) as connection:
            return connection.execute(sql, params).fetchall()

    def one(self, sql: str, *params: object) -> Any:
        rows = self.rows(sql, *params)
        assert len(rows) == 1, rows
        return rows[0][0] if len(rows[0]) == 1 else rows[0]

    def make_due(self) -> None:
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as connection:
            connection.execute("UPDATE app.sync_checkpoints SET next_poll_at = now()")


@pytest.fixture
def fake_server() -> Iterator[tuple[FakeSpotify, str]]:
    fake = FakeSpotify()
    with live_server(fake.app) as base:
        yield fake, base


@pytest.fixture
async def world(fake_server: tuple[FakeSpotify, str], database_url: str) -> AsyncIterator[World]:
    key = generate_key()
    engine = create_engine(database_url, application_name="collector tests")
    async with httpx.AsyncClient() as http:
        yield World(fake_server[0], fake_server[1], database_url, key, TokenCipher([key]), engine, http)
    await engine.dispose()


def _job(world: World, user_id: UUID, job_type: str) -> tuple[str, dict[str, Any], str | None]:
    row = world.one(
        "SELECT status, stats, error_message FROM app.job_runs WHERE user_id = %s AND job_type = %s "
        "ORDER BY id DESC LIMIT 1",
        user_id,
        job_type,
    )
    return row[0], row[1], row[2]


# --------------------------------------------------------------------------------------------------
# Initial sync (§5.1): each stop condition
# --------------------------------------------------------------------------------------------------
async def test_initial_sync_stops_on_empty_batch(world: World) -> None:
    user = world.connect("u1", plays=50)
    report = await world.collector().run_cycle()
    assert report.initial_syncs == 1 and report.landed == 50
    assert world.one("SELECT count(*) FROM raw.api_plays WHERE user_id = %s", user) == 50
    status, stats, _ = _job(world, user, "initial_sync")
    assert status == "success"
    # Page 1 holds the whole 50-play window; page 2 (before the oldest - 1 ms) is empty.
    assert stats["stop_reason"] == "empty" and stats["pages"] == 2 and stats["fetched"] == 50
    assert stats["inserted"] == 50 and stats["rate_limits"] == 0
    calls = world.fake.calls_for("/v1/me/player/recently-played", "u1")
    oldest = min(play.played_at for play in world.fake.users["u1"].plays)
    assert calls[1].params["before"] == str(to_ms(oldest) - 1)
    checkpoint = world.one(
        "SELECT status, initial_sync_stop_reason, initial_sync_completed_at IS NOT NULL, "
        "initial_sync_earliest_played_at, next_poll_at > now() FROM app.sync_checkpoints WHERE user_id = %s",
        user,
    )
    assert checkpoint[:3] == ("idle", "empty", True)
    assert checkpoint[3] == oldest and checkpoint[4] is True
    # The same cycle did not poll again (initial sync fetched the newest plays); no duplicates.
    assert report.polls == 0


async def test_initial_sync_stops_when_oldest_does_not_move(world: World) -> None:
    world.fake.ignore_cursors = True  # Spotify answers the same window whatever `before` says
    user = world.connect("u1", plays=20)
    await world.collector().run_cycle()
    status, stats, _ = _job(world, user, "initial_sync")
    assert (status, stats["stop_reason"], stats["pages"]) == ("success", "no_progress", 2)
    assert world.one("SELECT count(*) FROM raw.api_plays") == 20


async def test_without_stop_on_no_progress_it_runs_to_the_request_cap(world: World) -> None:
    world.fake.ignore_cursors = True
    user = world.connect("u1", plays=20)
    await world.collector(INITIAL_SYNC_STOP_ON_NO_PROGRESS="false", INITIAL_SYNC_MAX_REQUESTS="4").run_cycle()
    _, stats, _ = _job(world, user, "initial_sync")
    assert (stats["stop_reason"], stats["pages"]) == ("max_requests", 4)
    assert world.one("SELECT count(*) FROM raw.api_plays") == 20


async def test_initial_sync_stops_at_max_days_and_lands_nothing_older(world: World) -> None:
    world.fake.add_user("u1")
    world.fake.add_plays("u1", 50, spacing=timedelta(days=1))  # 49 days back
    user = world.connect("u1")
    await world.collector(INITIAL_SYNC_MAX_DAYS="10").run_cycle()
    _, stats, _ = _job(world, user, "initial_sync")
    assert stats["stop_reason"] == "max_days" and stats["pages"] == 1
    landed = world.one("SELECT count(*) FROM raw.api_plays")
    assert landed == stats["inserted"] in (10, 11)
    assert world.one("SELECT min(played_at) > now() - interval '10 days 1 minute' FROM raw.api_plays") is True


async def test_initial_sync_stops_at_max_requests(world: World) -> None:
    user = world.connect("u1", plays=50)
    await world.collector(INITIAL_SYNC_MAX_REQUESTS="1").run_cycle()
    _, stats, _ = _job(world, user, "initial_sync")
    assert (stats["stop_reason"], stats["pages"], stats["inserted"]) == ("max_requests", 1, 50)


async def test_initial_sync_stops_on_excessive_429s_and_reschedules_without_sleeping(world: World) -> None:
    user = world.connect("u1", plays=50)
    world.fake.rate_limit(7200, times=1)  # a two-hour Retry-After
    started = time.monotonic()
    await world.collector().run_cycle()
    assert time.monotonic() - started < 5
    status, stats, _ = _job(world, user, "initial_sync")
    assert status == "partial" and stats["stop_reason"] == "rate_limited" and stats["rate_limits"] == 1
    checkpoint = world.one("SELECT status, initial_sync_stop_reason, next_attempt_at - now() FROM app.sync_checkpoints")
    assert checkpoint[0] == "rate_limited" and checkpoint[1] == "rate_limited"
    assert timedelta(hours=1, minutes=59) < checkpoint[2] <= timedelta(hours=2)
    # Nothing is attempted for this user before then, even when the poll is due.
    world.make_due()
    calls = len(world.fake.calls)
    report = await world.collector().run_cycle()
    assert report.polls == 0 and report.initial_syncs == 0 and len(world.fake.calls) == calls


async def test_initial_sync_disabled_goes_straight_to_polling(world: World) -> None:
    user = world.connect("u1", plays=30)
    report = await world.collector(INITIAL_SYNC_ENABLED="false").run_cycle()
    assert (report.initial_syncs, report.polls, report.landed) == (0, 1, 30)
    assert world.rows("SELECT job_type FROM app.job_runs WHERE user_id = %s", user) == [("poll",)]


# --------------------------------------------------------------------------------------------------
# Polling
# --------------------------------------------------------------------------------------------------
async def test_polling_is_idempotent_and_uses_the_after_cursor(world: World) -> None:
    user = world.connect("u1", plays=50)
    collector = world.collector(INITIAL_SYNC_ENABLED="false")
    first = await collector.run_cycle()
    assert first.landed == 50
    # The same 50 plays again, landed through the same path: nothing new.
    spotify = await collector.spotify()
    assert spotify is not None
    page = await spotify.user_client(user).get_recently_played(limit=50)
    assert len(page.items) == 50
    for _ in range(2):
        async with world.engine.begin() as connection:
            landed = await land_plays(connection, user, page.items, None)
        assert (landed.fetched, landed.inserted) == (50, 0)
    assert world.one("SELECT count(*) FROM raw.api_plays") == 50
    # New plays: asked with `after` = the newest stored play, only those land.
    newest = world.one("SELECT max(played_at) FROM raw.api_plays")
    world.fake.add_plays("u1", 3, end=datetime.now(UTC) + timedelta(minutes=10))
    world.make_due()
    third = await collector.run_cycle()
    assert third.landed == 3
    assert world.fake.calls_for("/v1/me/player/recently-played", "u1")[-1].params["after"] == str(to_ms(newest))
    assert world.one("SELECT count(*) FROM raw.api_plays") == 53
    # Not due: nothing is asked.
    calls = len(world.fake.calls)
    assert (await collector.run_cycle()).polls == 0 and len(world.fake.calls) == calls


async def test_plays_land_with_context_payload_and_catalogue(world: World) -> None:
    world.connect("u1", plays=12)
    await world.collector(INITIAL_SYNC_ENABLED="false", ENRICHMENT_ENABLED="false").run_cycle()
    play = world.one(
        "SELECT context_type, context_uri, item->>'id' = track_id, job_run_id IS NOT NULL, ms_played "
        "FROM raw.api_plays ORDER BY played_at DESC LIMIT 1"
    )
    assert play[0] in ("playlist", "album") and play[1].startswith("spotify:") and play[2:] == (True, True, None)
    tracks = world.one("SELECT count(*), count(album_id), count(payload), count(popularity) FROM raw.tracks")
    assert tracks == (12, 12, 12, 0)  # a new app gets no popularity: stored as NULL, not an error
    assert world.one("SELECT count(*) FROM raw.track_artists") >= 12
    assert world.one("SELECT count(*) FROM raw.artists WHERE details_fetched_at IS NULL") > 0


async def test_expired_access_token_is_refreshed_once_and_stored_encrypted(world: World) -> None:
    user = world.connect("u1", plays=5, access_token_valid=False)
    report = await world.collector(INITIAL_SYNC_ENABLED="false").run_cycle()
    assert report.landed == 5
    assert world.fake.token_grants.count("refresh_token") == 1
    access_enc, expiry = world.one("SELECT access_token_enc, access_token_expires_at FROM app.spotify_tokens")
    assert world.cipher.decrypt(access_enc) in world.fake.access and expiry > datetime.now(UTC)
    # Spotify expires the token early (401): refreshed once, call repeated, poll succeeds.
    world.fake.expire_access_tokens()
    world.fake.add_plays("u1", 2, end=datetime.now(UTC) + timedelta(minutes=5))
    world.make_due()
    report = await world.collector(INITIAL_SYNC_ENABLED="false").run_cycle()
    assert report.landed == 2 and world.fake.token_grants.count("refresh_token") == 2
    status, _, _ = _job(world, user, "poll")
    assert status == "success"


async def test_invalid_grant_isolates_one_user_while_another_keeps_polling(world: World) -> None:
    alice = world.connect("alice", plays=10, access_token_valid=False)
    bob = world.connect("bob", plays=10, access_token_valid=False)
    world.fake.revoke("alice")  # six months after consent: invalid_grant
    collector = world.collector(INITIAL_SYNC_ENABLED="false")
    report = await collector.run_cycle()
    assert report.landed == 10
    assert world.one("SELECT status FROM app.users WHERE id = %s", alice) == "needs_reauth"
    assert world.one("SELECT status FROM app.sync_checkpoints WHERE user_id = %s", alice) == "needs_reauth"
    assert world.one("SELECT status FROM app.users WHERE id = %s", bob) == "active"
    assert world.one("SELECT count(*) FROM raw.api_plays WHERE user_id = %s", bob) == 10
    status, _, error = _job(world, alice, "poll")
    assert status == "error" and error is not None and "connect again" in error
    # Later cycles: nothing is asked for alice; bob goes on.
    world.fake.add_plays("bob", 4, end=datetime.now(UTC) + timedelta(minutes=5), spacing=timedelta(minutes=1))
    world.make_due()
    grants = world.fake.token_grants.count("refresh_token")
    report = await collector.run_cycle()
    assert report.polls == 1 and report.landed == 4
    assert world.fake.token_grants.count("refresh_token") == grants  # bob's token is cached; alice not tried
    assert world.fake.calls_for("/v1/me/player/recently-played", "alice") == []


async def test_two_hour_retry_after_stops_the_whole_installation_once_without_sleeping(world: World) -> None:
    """Spotify's limits are the app's, not a user's: a long Retry-After stops every call of the installation
    until then (recorded once), and nobody is polled, errored or charged meanwhile."""
    user = world.connect("u1", plays=5)
    world.fake.rate_limit(7200, times=1)
    started = time.monotonic()
    collector = world.collector(INITIAL_SYNC_ENABLED="false")
    report = await collector.run_cycle()
    assert time.monotonic() - started < 5
    assert report.landed == 0
    status, next_attempt, message = world.one(
        "SELECT status, next_attempt_at - now(), error_message FROM app.sync_checkpoints WHERE user_id = %s", user
    )
    assert status == "rate_limited" and timedelta(hours=1, minutes=59) < next_attempt <= timedelta(hours=2)
    assert "next attempt at" in message
    job_status, stats, _ = _job(world, user, "poll")
    assert job_status == "error" and stats["rate_limits"] == 1
    until = world.one("SELECT blocked_until - now() FROM app.spotify_quota_blocks")
    assert timedelta(hours=1, minutes=59) < until <= timedelta(hours=2)
    # A user connected meanwhile is due, but the installation sends nothing until the block ends.
    other = world.connect("u2", plays=5)
    calls = len(world.fake.calls)
    held = await collector.run_cycle()
    assert held.polls == 0 and len(world.fake.calls) == calls
    assert held.held_back is not None and "Spotify stopped this app" in held.held_back
    assert world.one("SELECT status, consecutive_errors FROM app.sync_checkpoints WHERE user_id = %s", other) == (
        "idle",
        0,
    )
    assert world.one("SELECT count(*) FROM app.spotify_quota_blocks") == 1  # recorded once
    # When it ends, both are polled again.
    with psycopg.connect(libpq_url(world.database_url), autocommit=True) as connection:
        connection.execute("UPDATE app.spotify_quota_blocks SET blocked_until = now() - interval '1 second'")
        connection.execute("UPDATE app.sync_checkpoints SET next_attempt_at = NULL, next_poll_at = now()")
    resumed = await collector.run_cycle()
    assert (resumed.polls, resumed.landed, resumed.held_back) == (2, 10, None)


async def test_short_retry_after_and_5xx_bursts_are_retried_inside_the_job(world: World) -> None:
    user = world.connect("u1", plays=5)
    world.fake.rate_limit(1, times=1)
    world.fake.server_errors(2)
    started = time.monotonic()
    report: CycleReport = await world.collector(INITIAL_SYNC_ENABLED="false").run_cycle()
    assert report.landed == 5
    assert time.monotonic() - started >= 1.0  # the short Retry-After was honoured
    status, stats, _ = _job(world, user, "poll")
    assert status == "success" and stats["rate_limits"] == 1 and stats["server_errors"] == 2
    assert stats["requests"] == 4


async def test_persistent_5xx_marks_error_with_backoff_and_recovers(world: World) -> None:
    user = world.connect("u1", plays=5)
    world.fake.server_errors(100)
    await world.collector(INITIAL_SYNC_ENABLED="false").run_cycle()
    status, errors, backoff = world.one(
        "SELECT status, consecutive_errors, next_attempt_at > now() FROM app.sync_checkpoints WHERE user_id = %s", user
    )
    assert (status, errors, backoff) == ("error", 1, True)
    world.fake.server_errors(0)
    with psycopg.connect(libpq_url(world.database_url), autocommit=True) as connection:
        connection.execute("UPDATE app.sync_checkpoints SET next_attempt_at = now(), next_poll_at = now()")
    assert (await world.collector(INITIAL_SYNC_ENABLED="false").run_cycle()).landed == 5
    assert world.one("SELECT status, consecutive_errors FROM app.sync_checkpoints") == ("idle", 0)


async def test_paused_users_are_not_polled(world: World) -> None:
    user = world.connect("u1", plays=5)
    with psycopg.connect(libpq_url(world.database_url), autocommit=True) as connection:
        connection.execute("UPDATE app.users SET status = 'paused' WHERE id = %s", (user,))
        connection.execute("UPDATE app.sync_checkpoints SET status = 'paused' WHERE user_id = %s", (user,))
    report = await world.collector().run_cycle()
    assert (report.initial_syncs, report.polls) == (0, 0) and world.fake.calls == []


async def test_cycle_runs_imports_first_and_transform_after_landing_and_survives_its_failure(world: World) -> None:
    world.connect("u1", plays=3)
    order: list[str] = []

    async def import_step() -> int:
        order.append(f"import after {len(world.fake.calls)} Spotify calls")
        return 7

    async def failing_transform() -> None:
        order.append("transform")
        raise RuntimeError("dbt exploded")

    collector = world.collector(INITIAL_SYNC_ENABLED="false")
    collector.import_step = import_step
    collector.transform_step = failing_transform
    report = await collector.run_cycle()
    assert order == ["import after 0 Spotify calls", "transform"]
    assert report.landed == 10 and report.transform_error == "RuntimeError: dbt exploded"
    # Ingestion is not blocked: the next due poll still runs.
    world.fake.add_plays("u1", 2, end=datetime.now(UTC) + timedelta(minutes=5))
    world.make_due()
    calls = len(world.fake.calls)
    assert (await collector.run_cycle()).landed == 7 + 2
    assert order[-2:] == [f"import after {calls} Spotify calls", "transform"]


async def test_concurrency_is_bounded_by_initial_sync_concurrency_and_the_global_limit(world: World) -> None:
    for name in ("a", "b", "c", "d", "e"):
        world.connect(name, plays=3)
    world.fake.delay_seconds = 0.3
    report = await world.collector(INITIAL_SYNC_CONCURRENCY="2", SPOTIFY_MAX_CONCURRENCY="10").run_cycle()
    assert report.initial_syncs == 5 and report.landed == 15
    assert world.fake.peak_in_flight == 2  # five users, never more than two initial syncs at once
    world.fake.peak_in_flight = 0
    world.make_due()
    report = await world.collector(SPOTIFY_MAX_CONCURRENCY="3").run_cycle()
    assert report.polls == 5
    assert world.fake.peak_in_flight == 3  # polls of five users share the global limit of three calls


async def test_two_collectors_in_one_loop_never_claim_the_same_user(world: World) -> None:
    for name in ("a", "b", "c", "d"):
        world.connect(name, plays=3)
    world.fake.delay_seconds = 0.05
    one, two = world.collector(INITIAL_SYNC_ENABLED="false"), world.collector(INITIAL_SYNC_ENABLED="false")
    first, second = await asyncio.gather(one.run_cycle(), two.run_cycle())
    assert sorted(first.users + second.users) == sorted(set(first.users + second.users))
    assert first.polls + second.polls == 4
    assert len(world.fake.calls_for("/v1/me/player/recently-played")) == 4


async def test_slow_spotify_times_out_is_retried_then_recorded_as_an_error(world: World) -> None:
    user = world.connect("u1", plays=5)
    world.fake.delay_seconds = 0.6
    started = time.monotonic()
    report = await world.collector(INITIAL_SYNC_ENABLED="false", SPOTIFY_TIMEOUT_SECONDS="0.2").run_cycle()
    assert time.monotonic() - started < 5
    assert report.landed == 0
    status, stats, error = _job(world, user, "poll")
    assert status == "error" and "no answer from Spotify after 4 attempts" in (error or "")
    assert stats["requests"] == 4 and stats["retries"] == 3
    assert world.one("SELECT status FROM app.sync_checkpoints") == "error"
    world.fake.delay_seconds = 0
    with psycopg.connect(libpq_url(world.database_url), autocommit=True) as connection:
        connection.execute("UPDATE app.sync_checkpoints SET next_attempt_at = now(), next_poll_at = now()")
    assert (await world.collector(INITIAL_SYNC_ENABLED="false").run_cycle()).landed == 5


async def test_heartbeat_keeps_beating_during_a_long_step_and_says_stopped_at_the_end(world: World) -> None:
    async def slow_import() -> int:
        await asyncio.sleep(1.2)
        return 0

    collector = world.collector()
    collector.import_step = slow_import
    collector.heartbeat_seconds = 0.2
    running = asyncio.create_task(collector.run(once=True))
    await asyncio.sleep(0.3)
    first = world.one("SELECT last_seen_at FROM app.worker_heartbeats")
    await asyncio.sleep(0.6)
    second, state = world.one("SELECT last_seen_at, state FROM app.worker_heartbeats")
    assert second > first and state == "running"
    await running
    assert world.one("SELECT state FROM app.worker_heartbeats") == "stopped"
