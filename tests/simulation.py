"""Days of collecting in virtual time: the real collector, a real PostgreSQL and the fake Spotify (with the 2026
quota) over loopback HTTP, with realistic listening and a clock that jumps from one due poll to the next —
no sleeping. Used by `tests/integration/test_collector_simulation.py` and `bench/collector_bench.py`.

Listening (UTC, seeded): a commuter (two rides on weekdays, an afternoon at weekends), an office listener
(most of the working day, some evenings), a skipper (evenings of skipping after 30-40 s, 60+ plays an hour),
a night owl (22:30 to the small hours) and a light listener (one short session on half the days). Tracks play
2.5-5 minutes, skips 30-40 seconds (Spotify's recently-played lists plays of 30 s and more). Listening starts a
day before the simulation, so each user's initial sync finds plays, as with a real account.

What it measures: plays lost (listened, but never landed), requests per day by purpose, and the most requests
in any rolling 24 h, counted both by the installation's ledger and by the fake (what Spotify saw).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import TokenCipher, generate_key
from core.dburl import libpq_url
from core.settings import load_settings
from core.spotify.policy import RetryPolicy
from ingest.collector import Collector
from ingest.schedule import next_due
from tests.fakes.spotify import FakePlay, FakeSpotify, spotify_env
from tests.live_server import live_server

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
PROFILES = ("commuter", "office", "skipper", "night_owl", "light")


class VirtualClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@dataclass(frozen=True, slots=True)
class Session:
    start: datetime
    minutes: float
    skip_share: float


def _at(day: date, hour: float, rng: random.Random, jitter_minutes: float) -> datetime:
    base = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour)
    return base + timedelta(minutes=rng.uniform(-jitter_minutes, jitter_minutes))


def sessions(profile: str, day: date, rng: random.Random) -> list[Session]:
    weekday = day.weekday() < 5
    if profile == "commuter":
        if weekday:
            return [
                Session(_at(day, 7.25, rng, 15), rng.uniform(50, 70), 0.1),
                Session(_at(day, 17.5, rng, 20), rng.uniform(45, 75), 0.1),
            ]
        return [Session(_at(day, 14, rng, 120), rng.uniform(60, 120), 0.15)]
    if profile == "office":
        if weekday:
            found = [
                Session(_at(day, 8.75, rng, 15), rng.uniform(150, 200), 0.15),
                Session(_at(day, 13, rng, 10), rng.uniform(180, 240), 0.15),
            ]
            if rng.random() < 0.5:
                found.append(Session(_at(day, 20, rng, 30), rng.uniform(40, 80), 0.2))
            return found
        return [Session(_at(day, 11, rng, 60), rng.uniform(120, 200), 0.2)]
    if profile == "skipper":
        return [
            Session(_at(day, 12.5, rng, 20), rng.uniform(20, 40), 0.3),
            Session(_at(day, 19, rng, 60), rng.uniform(120, 240), 0.85),
        ]
    if profile == "night_owl":
        return [Session(_at(day, 22.5, rng, 30), rng.uniform(180, 300), 0.05)]
    if profile == "light":
        if rng.random() < 0.5:
            return [Session(_at(day, rng.uniform(9, 21), rng, 0), rng.uniform(20, 60), 0.1)]
        return []
    raise ValueError(f"unknown profile {profile}")


def listening(profile: str, track_ids: list[str], first_day: date, days: int, seed: int) -> list[FakePlay]:
    """Every play of one listener (end-of-play times, millisecond precision) over `days` days."""
    rng = random.Random(f"{seed}:{profile}")
    plays: list[FakePlay] = []
    favourites = rng.sample(track_ids, min(len(track_ids), 80))
    for offset in range(days):
        for session in sessions(profile, first_day + timedelta(days=offset), rng):
            moment = session.start
            ends = session.start + timedelta(minutes=session.minutes)
            while moment < ends:
                seconds = rng.uniform(30, 40) if rng.random() < session.skip_share else rng.uniform(150, 300)
                moment += timedelta(seconds=seconds)
                moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
                plays.append(FakePlay(rng.choice(favourites), moment))
                moment += timedelta(seconds=rng.uniform(0.5, 3))
    plays.sort(key=lambda play: play.played_at)
    # Two plays never end in the same millisecond for one user.
    unique: list[FakePlay] = []
    for play in plays:
        if unique and play.played_at <= unique[-1].played_at:
            continue
        unique.append(play)
    return unique


@dataclass
class SimulationResult:
    days: int
    adaptive: bool
    users: dict[str, UUID]
    plays: dict[str, int]
    lost: dict[str, int]
    requests_by_purpose: Counter[str]
    max_requests_24h_ledger: int
    max_requests_24h_spotify: int
    spotify_requests: int
    quota_refusals: int
    polls: int
    window_full_polls: int
    wall_seconds: float
    intervals: dict[str, list[int]] = field(default_factory=dict)

    @property
    def requests_per_day(self) -> float:
        return sum(self.requests_by_purpose.values()) / self.days

    def summary(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "schedule": "adaptive" if self.adaptive else "fixed 10 min",
            "plays": sum(self.plays.values()),
            "lost": sum(self.lost.values()),
            "requests_per_day": round(self.requests_per_day, 1),
            "by_purpose_per_day": {k: round(v / self.days, 1) for k, v in sorted(self.requests_by_purpose.items())},
            "polls_per_day": round(self.polls / self.days, 1),
            "max_requests_in_24h": max(self.max_requests_24h_ledger, self.max_requests_24h_spotify),
            "quota_refusals": self.quota_refusals,
            "window_full_polls": self.window_full_polls,
            "wall_seconds": round(self.wall_seconds, 1),
        }


def _tally(database_url: str, counted: Counter[str], after_id: int) -> int:
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT purpose, count(*), max(id) FROM app.spotify_requests WHERE id > %s GROUP BY purpose", (after_id,)
        ).fetchall()
    for purpose, count, _ in rows:
        counted[purpose] += count
    newest: int = max([after_id, *(int(row[2]) for row in rows)])
    return newest


def _max_in_24h(moments: list[datetime]) -> int:
    moments = sorted(moments)
    best, left = 0, 0
    for right, moment in enumerate(moments):
        while moments[left] <= moment - timedelta(hours=24):
            left += 1
        best = max(best, right - left + 1)
    return best


def connect_at(database_url: str, cipher: TokenCipher, fake: FakeSpotify, name: str, clock: VirtualClock) -> UUID:
    """A user as `/auth/callback` leaves them, at virtual time: tokens issued now, consent now."""
    fake.add_user(name, display_name=name.replace("_", " ").title())
    access, refresh = fake.issue_tokens(name)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        row = connection.execute(
            "INSERT INTO app.users (spotify_user_id, display_name) VALUES (%s, %s) RETURNING id",
            (name, fake.users[name].display_name),
        ).fetchone()
        assert row is not None
        connection.execute(
            "INSERT INTO app.spotify_tokens (user_id, refresh_token_enc, access_token_enc, access_token_expires_at, "
            "scope, client_id, consented_at, refresh_token_expires_at) "
            "VALUES (%s, %s, %s, %s, 'user-read-recently-played', 'fake-client-id', %s, %s)",
            (
                row[0],
                cipher.encrypt(refresh),
                cipher.encrypt(access),
                clock() + timedelta(seconds=fake.access_token_ttl),
                clock(),
                clock() + timedelta(days=182),
            ),
        )
        connection.execute(
            "INSERT INTO app.sync_checkpoints (user_id, next_poll_at) VALUES (%s, %s)", (row[0], clock())
        )
    user_id: UUID = row[0]
    return user_id


async def simulate(
    database_url: str,
    engine: AsyncEngine,
    *,
    days: int = 7,
    adaptive: bool = True,
    budget: int = 1000,
    quota: int = 1100,
    seed: int = 17,
    enrichment: bool = True,
    env: dict[str, str] | None = None,
) -> SimulationResult:
    started = time.monotonic()
    # A scratch database: commits need not wait for the disk (what is measured is the collector's logic,
    # not PostgreSQL's fsync on a shared machine). New sessions take it; the engine has none open yet.
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        database = connection.execute("SELECT current_database()").fetchone()
        assert database is not None
        connection.execute(f'ALTER DATABASE "{database[0]}" SET synchronous_commit = off')
    await engine.dispose()
    clock = VirtualClock(START)
    fake = FakeSpotify(clock=clock, quota_per_day=quota)
    catalog = fake.ensure_catalog(300)
    track_ids = [track.id for track in catalog]
    key = generate_key()
    cipher = TokenCipher([key])
    expected: dict[str, list[FakePlay]] = {}
    with live_server(fake.app) as base:
        users: dict[str, UUID] = {}
        for name in PROFILES:
            users[name] = connect_at(database_url, cipher, fake, name, clock)
            plays = listening(name, track_ids, (START - timedelta(days=1)).date(), days + 1, seed)
            fake.load_plays(name, plays)
            before = [play for play in plays if play.played_at <= START]
            # What Spotify still shows at connection (the last 50), and everything after: all of it must land.
            expected[name] = before[-50:] + [
                play for play in plays if START < play.played_at <= START + timedelta(days=days)
            ]
        settings = load_settings(
            spotify_env(
                database_url,
                base,
                key,
                SPOTIFY_REQUEST_BUDGET=str(budget),
                COLLECTOR_ADAPTIVE_POLLING="true" if adaptive else "false",
                COLLECTOR_INTERVAL_SECONDS="600",
                ENRICHMENT_ENABLED="true" if enrichment else "false",
                **(env or {}),
            )
        )
        end = START + timedelta(days=days)
        intervals: dict[str, list[int]] = {name: [] for name in PROFILES}
        async with httpx.AsyncClient() as http:
            collector = Collector(
                engine,
                settings,
                cipher,
                http,
                policy=RetryPolicy(base_delay=0.01, max_delay=0.05),
                clock=clock,
                listen=False,
            )
            counted: Counter[str] = Counter()
            last_counted = 0
            while clock.at < end:
                await collector.run_cycle()
                # Tally requests as they are made (the collector purges its ledger after a week).
                last_counted = _tally(database_url, counted, last_counted)
                due = await next_due(engine)
                step = due if due is not None and due > clock.at else clock.at + timedelta(minutes=1)
                clock.at = min(step, end, clock.at + timedelta(hours=1))
            # The end: everyone is polled once more, so every play up to the end can be fetched.
            with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
                connection.execute("UPDATE app.sync_checkpoints SET next_poll_at = %s", (clock.at,))
            await collector.run_cycle()
            _tally(database_url, counted, last_counted)
        with psycopg.connect(libpq_url(database_url)) as connection:
            landed = {
                name: {
                    (row[0], row[1])
                    for row in connection.execute(
                        "SELECT played_at, track_id FROM raw.api_plays WHERE user_id = %s", (user_id,)
                    )
                }
                for name, user_id in users.items()
            }
            ledger_rows = connection.execute("SELECT requested_at FROM app.spotify_requests").fetchall()
            polls = connection.execute("SELECT count(*) FROM app.job_runs WHERE job_type = 'poll'").fetchone()
            full = connection.execute("SELECT coalesce(sum(window_full_polls), 0) FROM app.sync_checkpoints").fetchone()
            for name, user_id in users.items():
                intervals[name] = [
                    int(row[0])
                    for row in connection.execute(
                        "SELECT (stats->>'next_poll_in_seconds')::int FROM app.job_runs "
                        "WHERE job_type = 'poll' AND user_id = %s AND stats ? 'next_poll_in_seconds' ORDER BY id",
                        (user_id,),
                    )
                    if row[0] is not None
                ]
    assert polls is not None and full is not None
    lost = {
        name: sum(1 for play in plays if (play.played_at, play.track_id) not in landed[name])
        for name, plays in expected.items()
    }
    spotify_moments = [call.at for call in fake.calls if call.at is not None] + fake.token_grant_times
    return SimulationResult(
        days=days,
        adaptive=adaptive,
        users=users,
        plays={name: len(plays) for name, plays in expected.items()},
        lost=lost,
        requests_by_purpose=counted,
        max_requests_24h_ledger=_max_in_24h([row[0] for row in ledger_rows]),
        max_requests_24h_spotify=_max_in_24h(spotify_moments),
        spotify_requests=len(spotify_moments),
        quota_refusals=len(fake.quota_refusals),
        polls=int(polls[0]),
        window_full_polls=int(full[0]),
        wall_seconds=time.monotonic() - started,
        intervals=intervals,
    )
