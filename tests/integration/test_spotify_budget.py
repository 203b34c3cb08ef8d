"""The installation's one Spotify request budget on a real PostgreSQL: priorities and the polling reserve,
the rolling 24 h window, no overshoot when processes spend together, a Spotify stop recorded once and honoured
by every caller, and the typed client, the accounts service and the live tools all drawing on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import TokenCipher, generate_key
from core.db import create_engine
from core.dburl import libpq_url
from core.settings import load_settings
from core.spotify.accounts import SpotifyAccounts
from core.spotify.budget import BudgetPolicy, DatabaseBudget, Purpose, budget_state
from core.spotify.client import SpotifyClient
from core.spotify.errors import BudgetExhausted, QuotaBlocked
from core.spotify.tokens import UserTokens
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fakes.spotify import TEST_CLIENT_ID, TEST_CLIENT_SECRET, FakeSpotify, connect_user, spotify_env
from tests.live_server import live_server

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _count(database_url: str, sql: str = "SELECT count(*) FROM app.spotify_requests") -> int:
    with psycopg.connect(libpq_url(database_url)) as connection:
        row = connection.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


async def _spend_until_refused(
    budget: DatabaseBudget, purpose: Purpose, most: int = 100
) -> tuple[int, BudgetExhausted]:
    for spent in range(most):
        try:
            await budget.spend(purpose, "GET /test")
        except BudgetExhausted as refused:
            return spent, refused
    raise AssertionError(f"{purpose} was never refused")


async def test_priorities_and_the_polling_reserve(engine: AsyncEngine, database_url: str) -> None:
    clock = Clock()
    policy = BudgetPolicy(per_day=40, polling_reserve=10, enrichment_share=1.0)
    budget = DatabaseBudget(engine, policy, clock=clock)
    # Tool lookups, the lowest priority, stop first: below the reserve and two steps (5 % each) under it.
    tools, refused = await _spend_until_refused(budget, Purpose.tools)
    assert tools == 40 - 10 - 2 * 2 == policy.ceiling(Purpose.tools)
    assert "no room for tools" in str(refused) and "26 of 40" in str(refused)
    assert refused.until == T0 + timedelta(hours=24)  # when the first of them leaves the window
    # Each higher purpose may still spend what a lower one may not, up to its own ceiling.
    assert (await _spend_until_refused(budget, Purpose.enrichment))[0] == 2
    assert (await _spend_until_refused(budget, Purpose.initial_sync))[0] == 2
    assert (await _spend_until_refused(budget, Purpose.polling))[0] == 40 - 1 - 30  # the reserve is polling's
    assert (await _spend_until_refused(budget, Purpose.token))[0] == 1
    assert _count(database_url) == 40  # refused requests are not counted: they were never sent
    state = await budget.state()
    assert (state.used, state.remaining) == (40, 0)
    assert state.by_purpose == {"token": 1, "polling": 9, "initial_sync": 2, "enrichment": 2, "tools": 26}
    # The window rolls: a day later everything is available again.
    clock.at = T0 + timedelta(hours=24, seconds=1)
    await budget.spend(Purpose.tools, "GET /search")
    assert (await budget.state()).used == 1


async def test_enrichment_keeps_to_its_share(engine: AsyncEngine) -> None:
    clock = Clock()
    budget = DatabaseBudget(engine, BudgetPolicy(per_day=100, polling_reserve=10, enrichment_share=0.2), clock=clock)
    spent, refused = await _spend_until_refused(budget, Purpose.enrichment)
    assert spent == 20 and "SPOTIFY_ENRICHMENT_SHARE" in str(refused)
    await budget.spend(Purpose.tools, "GET /search")  # the rest of the budget stays open to others
    assert await budget.check(Purpose.enrichment) is not None and await budget.check(Purpose.polling) is None


async def test_processes_spending_together_never_overshoot(database_url: str) -> None:
    engines = [create_engine(database_url, application_name=f"budget {n}") for n in range(3)]
    try:
        budgets = [DatabaseBudget(engine, BudgetPolicy(per_day=25, polling_reserve=5)) for engine in engines]

        async def attempt(budget: DatabaseBudget) -> bool:
            try:
                await budget.spend(Purpose.token, "POST /api/token")
            except BudgetExhausted:
                return False
            return True

        outcomes = await asyncio.gather(*(attempt(budget) for budget in budgets for _ in range(15)))
    finally:
        for engine in engines:
            await engine.dispose()
    assert sum(outcomes) == 25 and _count(database_url) == 25


async def test_a_spotify_stop_is_recorded_once_and_refuses_everything(
    engine: AsyncEngine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    first = DatabaseBudget(engine, BudgetPolicy(), clock=clock)
    second = DatabaseBudget(engine, BudgetPolicy(), clock=clock)
    with caplog.at_level(logging.WARNING, logger="core.spotify.budget"):
        until = await first.block(14 * 3600, reason="QUOTA_EXCEEDED", endpoint="GET /me/player/recently-played")
        again = await second.block(14 * 3600 + 60, reason="QUOTA_EXCEEDED", endpoint="GET /search")
    assert until == T0 + timedelta(hours=14) and again == until + timedelta(seconds=60)
    assert _count(database_url, "SELECT count(*) FROM app.spotify_quota_blocks") == 1
    assert len([r for r in caplog.records if "stopped this app" in r.getMessage()]) == 1  # logged once
    for purpose in Purpose:
        with pytest.raises(QuotaBlocked) as blocked:
            await second.spend(purpose, "GET /me")
        assert blocked.value.until == again and "QUOTA_EXCEEDED" in str(blocked.value)
    state = await budget_state(engine, BudgetPolicy(), clock())
    assert state.blocked_until == again and state.blocked_reason == "QUOTA_EXCEEDED" and state.used == 0
    clock.at = again + timedelta(seconds=1)
    await first.spend(Purpose.polling, "GET /me/player/recently-played")


@pytest.fixture
def fake_with_quota() -> Iterator[tuple[FakeSpotify, str]]:
    fake = FakeSpotify(quota_per_day=4)
    with live_server(fake.app) as base:
        yield fake, base


async def test_the_client_stops_the_installation_at_quota_exceeded(
    fake_with_quota: tuple[FakeSpotify, str], engine: AsyncEngine, database_url: str
) -> None:
    """Spotify's quota answer blocks every process; the next request is not even sent."""
    fake, base = fake_with_quota
    key = generate_key()
    user_id, _ = connect_user(database_url, TokenCipher([key]), fake, "u1", plays=10)
    budget = DatabaseBudget(engine, BudgetPolicy(per_day=100, polling_reserve=10))
    async with httpx.AsyncClient() as http:
        accounts = SpotifyAccounts(
            http, base_url=base, client_id=TEST_CLIENT_ID, client_secret=TEST_CLIENT_SECRET, budget=budget
        )
        client = SpotifyClient(
            http,
            UserTokens(engine, TokenCipher([key]), accounts, user_id),
            base_url=f"{base}/v1",
            budget=budget,
            purpose=Purpose.polling,
            user_id=user_id,
        )
        for _ in range(4):
            await client.get_recently_played(limit=5)
        with pytest.raises(QuotaBlocked) as stopped:
            await client.get_recently_played(limit=5)
        assert stopped.value.reason == "QUOTA_EXCEEDED" and stopped.value.retry_after > 13 * 3600
        sent = len(fake.calls)
        other = SpotifyClient(http, accounts_token(accounts), base_url=f"{base}/v1", budget=budget)
        with pytest.raises(QuotaBlocked):
            await other.search("anything")
        with pytest.raises(QuotaBlocked):
            await accounts.client_credentials()
    assert len(fake.calls) == sent and len(fake.quota_refusals) == 1  # nothing more reached Spotify
    assert _count(database_url, "SELECT count(*) FROM app.spotify_quota_blocks") == 1
    # Five requests were sent (four answered, one refused by Spotify) and all five were counted, with the user.
    assert _count(database_url, f"SELECT count(*) FROM app.spotify_requests WHERE user_id = '{user_id}'") == 5


class accounts_token:
    def __init__(self, accounts: SpotifyAccounts) -> None:
        self._accounts = accounts

    async def access_token(self) -> str:
        return (await self._accounts.client_credentials()).access_token

    async def refreshed_access_token(self) -> str:
        return await self.access_token()


async def test_token_requests_draw_on_the_budget_and_respect_the_quota(
    fake_with_quota: tuple[FakeSpotify, str], engine: AsyncEngine, database_url: str
) -> None:
    fake, base = fake_with_quota
    budget = DatabaseBudget(engine, BudgetPolicy(per_day=100, polling_reserve=10))
    async with httpx.AsyncClient() as http:
        accounts = SpotifyAccounts(
            http, base_url=base, client_id=TEST_CLIENT_ID, client_secret=TEST_CLIENT_SECRET, budget=budget
        )
        for _ in range(4):
            await accounts.client_credentials()
        with pytest.raises(QuotaBlocked):
            await accounts.client_credentials()
    assert _count(database_url, "SELECT count(*) FROM app.spotify_requests WHERE purpose = 'token'") == 5
    assert _count(database_url, "SELECT count(*) FROM app.spotify_quota_blocks") == 1
    assert fake.token_grants == ["client_credentials"] * 5


async def test_live_tools_are_refused_first_with_a_helpful_answer(database_url: str) -> None:
    fake = FakeSpotify()
    key = generate_key()
    with live_server(fake.app) as fake_base:
        user_id, _ = connect_user(database_url, TokenCipher([key]), fake, "listener", plays=10)
        settings = load_settings(
            spotify_env(database_url, fake_base, key, SPOTIFY_REQUEST_BUDGET="30", SPOTIFY_POLLING_RESERVE="10")
        )
        with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
            # 18 requests spent in the last hours: tools stop at 30 - 10 - 2 * 1 = 18, polling could go on.
            connection.execute(
                "INSERT INTO app.spotify_requests (requested_at, purpose, endpoint) "
                "SELECT now() - make_interval(mins => n), 'polling', 'GET /me/player/recently-played' "
                "FROM generate_series(1, 18) AS n"
            )
        with live_server(create_app(settings, database_url)) as base:
            async with httpx.AsyncClient(timeout=30) as http:
                answer = await http.post(
                    f"{base}/mcp/call",
                    json={"tool": "spotify.get_top", "args": {"user_id": str(user_id), "entity": "artists"}},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                )
    body = answer.json()
    assert answer.status_code == 503, body
    message = body["error"]["message"]
    assert "daily Spotify request budget" in message and "history.* tools work meanwhile" in message
    assert body["error"]["details"]["retry_after_seconds"] > 20 * 3600
    assert fake.calls == [] and fake.token_grants == []  # nothing was sent
