"""Stored-token refresh against the fake over HTTP and a real PostgreSQL: rotation-safe under concurrency,
consent date untouched, invalid_grant marks only that user."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from core.crypto import TokenCipher, generate_key
from core.db import create_engine
from core.dburl import libpq_url
from core.spotify.accounts import SpotifyAccounts
from core.spotify.errors import NeedsReauth
from core.spotify.tokens import UserTokens
from tests.fakes.spotify import TEST_CLIENT_ID, TEST_CLIENT_SECRET, FakeSpotify, connect_user
from tests.live_server import live_server


@pytest.fixture
def fake_server() -> Iterator[tuple[FakeSpotify, str]]:
    fake = FakeSpotify()
    with live_server(fake.app) as base:
        yield fake, base


async def test_concurrent_refreshes_with_rotating_refresh_tokens_do_not_lock_the_user_out(
    fake_server: tuple[FakeSpotify, str], database_url: str
) -> None:
    fake, base = fake_server
    fake.rotate_refresh_tokens = True
    cipher = TokenCipher([generate_key()])
    user_id, first_refresh = connect_user(database_url, cipher, fake, "ann", access_token_valid=False)
    with psycopg.connect(libpq_url(database_url)) as connection:
        consented = connection.execute("SELECT consented_at FROM app.spotify_tokens").fetchone()
    engine = create_engine(database_url)
    try:
        async with httpx.AsyncClient() as http:
            accounts = SpotifyAccounts(http, base_url=base, client_id=TEST_CLIENT_ID, client_secret=TEST_CLIENT_SECRET)
            # Three processes' worth of token sources for the same user, all finding the token expired.
            sources = [UserTokens(engine, cipher, accounts, user_id) for _ in range(3)]
            tokens = await asyncio.gather(*(source.access_token() for source in sources))
            assert len(set(tokens)) == 1 and tokens[0] in fake.access
            assert fake.token_grants.count("refresh_token") == 1
            # A 401 later: refreshed again with the rotated token, not the retired one.
            assert await sources[0].refreshed_access_token() != tokens[0]
    finally:
        await engine.dispose()
    with psycopg.connect(libpq_url(database_url)) as connection:
        row = connection.execute("SELECT refresh_token_enc, consented_at FROM app.spotify_tokens").fetchone()
        status = connection.execute("SELECT status FROM app.users").fetchone()
    assert row is not None and status == ("active",)
    assert first_refresh not in fake.refresh_tokens and cipher.decrypt(row[0]) in fake.refresh_tokens
    assert consented is not None and row[1] == consented[0]  # refreshing never moves the 6-month clock


async def test_invalid_grant_marks_needs_reauth(fake_server: tuple[FakeSpotify, str], database_url: str) -> None:
    fake, base = fake_server
    cipher = TokenCipher([generate_key()])
    ann, _ = connect_user(database_url, cipher, fake, "ann", access_token_valid=False)
    connect_user(database_url, cipher, fake, "ben", access_token_valid=False)
    fake.revoke("ann")
    engine = create_engine(database_url)
    try:
        async with httpx.AsyncClient() as http:
            accounts = SpotifyAccounts(http, base_url=base, client_id=TEST_CLIENT_ID, client_secret=TEST_CLIENT_SECRET)
            with pytest.raises(NeedsReauth, match="connect again"):
                await UserTokens(engine, cipher, accounts, ann).access_token()
    finally:
        await engine.dispose()
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT u.spotify_user_id, u.status, c.status, c.error_message IS NOT NULL FROM app.users u "
            "JOIN app.sync_checkpoints c ON c.user_id = u.id ORDER BY 1"
        ).fetchall()
    assert rows == [("ann", "needs_reauth", "needs_reauth", True), ("ben", "active", "idle", False)]
