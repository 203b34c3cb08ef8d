"""Adaptive polling through the real collector (fake Spotify over HTTP, real PostgreSQL, a virtual clock): each
poll sets the user's next one from their own listening and says why; a poll that finds Spotify's whole window
new polls again soon and counts it."""

from __future__ import annotations

import logging
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
from core.dburl import libpq_url
from core.settings import load_settings
from core.spotify.policy import RetryPolicy
from ingest.collector import Collector
from tests.fakes.spotify import FakeSpotify, spotify_env
from tests.live_server import live_server
from tests.simulation import VirtualClock, connect_at

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@dataclass
class World:
    fake: FakeSpotify
    clock: VirtualClock
    base: str
    database_url: str
    engine: AsyncEngine
    http: httpx.AsyncClient
    cipher: TokenCipher
    key: str

    def collector(self) -> Collector:
        settings = load_settings(
            spotify_env(
                self.database_url, self.base, self.key, INITIAL_SYNC_ENABLED="false", ENRICHMENT_ENABLED="false"
            )
        )
        return Collector(
            self.engine, settings, self.cipher, self.http, policy=RetryPolicy(base_delay=0.01), clock=self.clock
        )

    def checkpoint(self, user_id: UUID) -> Any:
        with psycopg.connect(libpq_url(self.database_url)) as connection:
            return connection.execute(
                "SELECT next_poll_at, poll_interval_seconds, plays_per_hour, poll_reason, last_poll_new_plays, "
                "window_full_polls FROM app.sync_checkpoints WHERE user_id = %s",
                (user_id,),
            ).fetchone()

    def history(self, user_id: UUID, moments: list[datetime]) -> None:
        """API plays already collected earlier (what past polls landed)."""
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as connection:
            for number, moment in enumerate(moments):
                connection.execute(
                    "INSERT INTO raw.api_plays (user_id, played_at, track_id) VALUES (%s, %s, %s)",
                    (user_id, moment, f"t{number}"),
                )
            connection.execute(
                "UPDATE app.sync_checkpoints SET last_poll_latest_played_at = %s WHERE user_id = %s",
                (max(moments), user_id),
            )


@pytest.fixture
def fake_server() -> Iterator[tuple[FakeSpotify, VirtualClock, str]]:
    clock = VirtualClock(T0)
    fake = FakeSpotify(clock=clock)
    fake.ensure_catalog(60)
    with live_server(fake.app) as base:
        yield fake, clock, base


@pytest.fixture
async def world(
    fake_server: tuple[FakeSpotify, VirtualClock, str], database_url: str, engine: AsyncEngine
) -> AsyncIterator[World]:
    key = generate_key()
    async with httpx.AsyncClient() as http:
        yield World(*fake_server, database_url, engine, http, TokenCipher([key]), key)


async def test_a_fast_listener_is_polled_sooner_and_the_users_page_reason_says_why(world: World) -> None:
    skipper = connect_at(world.database_url, world.cipher, world.fake, "skipper", world.clock)
    steady = connect_at(world.database_url, world.cipher, world.fake, "steady", world.clock)
    # The last 40 minutes: the skipper ended a play every 36 s (100 an hour), the other every 3.5 minutes.
    world.fake.add_plays("skipper", 45, end=T0 - timedelta(seconds=30), spacing=timedelta(seconds=36))
    world.fake.add_plays("steady", 11, end=T0 - timedelta(seconds=30), spacing=timedelta(minutes=3, seconds=30))
    report = await world.collector().run_cycle()
    assert report.polls == 2 and report.landed == 56
    fast, slow = world.checkpoint(skipper), world.checkpoint(steady)
    assert fast[0] == T0 + timedelta(seconds=fast[1]) and slow[0] == T0 + timedelta(seconds=slow[1])
    # 34 plays in the fastest 20 minutes: 102 an hour; 40 plays' worth is 23.5 minutes, so fewer than 50 can pile
    # up before the next poll.
    assert fast[1] == int(40 / 102 * 3600) == 1411 and fast[2] == 102.0 and fast[4] == 45
    assert fast[3].startswith("listening now; up to 102 plays/h: every 24 min")
    assert slow[1] == 3500 and "COLLECTOR_MAX_INTERVAL_SECONDS" in slow[3] and slow[4] == 11
    stats = _poll_stats(world, skipper)
    assert stats["next_poll_in_seconds"] == 1411 and stats["window_full"] is False


async def test_known_daily_pattern_quiet_nights_busy_evenings(world: World) -> None:
    user = connect_at(world.database_url, world.cipher, world.fake, "evenings", world.clock)
    # Eight evenings of fast skipping (19:00-20:00, one play a minute), nothing else.
    evenings = [
        datetime(2026, 2, 21 + day, 19, 0, tzinfo=UTC) + timedelta(minutes=minute)
        for day in range(8)
        for minute in range(60)
    ]
    world.history(user, evenings)
    collector = world.collector()
    await collector.run_cycle()
    night = world.checkpoint(user)
    assert night[1] == 3500 and "no plays at this time of day" in night[3]
    world.clock.at = datetime(2026, 3, 1, 18, 0, tzinfo=UTC) + timedelta(days=1)  # an hour before the evening
    with psycopg.connect(libpq_url(world.database_url), autocommit=True) as connection:
        connection.execute("UPDATE app.sync_checkpoints SET next_poll_at = %s", (world.clock.at,))
    await collector.run_cycle()
    before_evening = world.checkpoint(user)
    rate = before_evening[2]
    assert rate == 63.0  # 21 plays in 20 minutes at their busiest, every evening
    assert before_evening[1] == int(40 / rate * 3600)
    assert "not listening now; at this time of day up to 63 plays/h" in before_evening[3]


async def test_a_full_window_polls_again_soon_and_is_counted(world: World, caplog: pytest.LogCaptureFixture) -> None:
    user = connect_at(world.database_url, world.cipher, world.fake, "binge", world.clock)
    world.fake.add_plays("binge", 10, end=T0 - timedelta(hours=2), spacing=timedelta(minutes=3))
    collector = world.collector()
    await collector.run_cycle()  # knows the user up to two hours ago
    world.fake.add_plays("binge", 70, end=T0 + timedelta(minutes=55), spacing=timedelta(seconds=40))
    world.clock.at = T0 + timedelta(hours=1)
    with psycopg.connect(libpq_url(world.database_url), autocommit=True) as connection:
        connection.execute("UPDATE app.sync_checkpoints SET next_poll_at = %s", (world.clock.at,))
    with caplog.at_level(logging.WARNING, logger="ingest.polling"):
        report = await collector.run_cycle()
    assert report.landed == 50  # Spotify shows only the last 50; 20 were gone before this poll
    checkpoint = world.checkpoint(user)
    assert checkpoint[1] == 300 and checkpoint[5] == 1 and "window full" in checkpoint[3]
    assert any("older plays may have been missed" in record.getMessage() for record in caplog.records)
    assert _poll_stats(world, user)["window_full"] is True


def _poll_stats(world: World, user_id: UUID) -> dict[str, Any]:
    with psycopg.connect(libpq_url(world.database_url)) as connection:
        row = connection.execute(
            "SELECT stats FROM app.job_runs WHERE user_id = %s AND job_type = 'poll' ORDER BY id DESC LIMIT 1",
            (user_id,),
        ).fetchone()
    assert row is not None
    stats: dict[str, Any] = row[0]
    return stats
