"""No Spotify refresh token (nor access token, nor the client secret) appears in plaintext anywhere in the
database or in the logs, after a real OAuth login, refreshes, an invalid_grant and a collector cycle."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from core.crypto import TokenCipher, generate_key
from core.db import create_engine
from core.dburl import libpq_url
from core.log import configure_logging
from core.settings import load_settings
from core.spotify.policy import RetryPolicy
from ingest.collector import Collector
from serve.api.app import create_app
from tests.fakes.spotify import TEST_CLIENT_SECRET, FakeSpotify, connect_user, spotify_env
from tests.live_server import free_port, live_server


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def _dump_database(database_url: str) -> str:
    with psycopg.connect(libpq_url(database_url)) as connection:
        names = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
        ).fetchall()
        chunks = []
        for schema, table in names:
            row = connection.execute(
                f'SELECT coalesce(string_agg(row_to_json(t)::text, chr(10)), \'\') FROM "{schema}"."{table}" t'
            ).fetchone()
            assert row is not None
            chunks.append(f"== {schema}.{table}\n{row[0]}")
    return "\n".join(chunks)


async def test_no_token_in_plaintext_in_database_or_logs(
    database_url: str, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    del restore_logging
    sink = configure_logging("collector", level="DEBUG", database_url=database_url)
    assert sink is not None
    fake = FakeSpotify()
    fake.add_user("alice", display_name="Alice")
    fake.add_plays("alice", 20)
    key = generate_key()
    cipher = TokenCipher([key])
    with live_server(fake.app) as base:
        port = free_port()
        env = spotify_env(database_url, base, key, SPOTIFY_REDIRECT_URI=f"http://127.0.0.1:{port}/auth/callback")
        settings = load_settings(env)
        with live_server(create_app(settings, database_url), port=port) as api:
            async with httpx.AsyncClient() as browser:
                login = await browser.get(f"{api}/auth/login")
                back = await browser.get(login.headers["location"])
                assert (await browser.get(back.headers["location"])).status_code == 200
        # Bob's token was revoked (invalid_grant); alice's access token has expired (refresh).
        connect_user(database_url, cipher, fake, "bob", plays=5, access_token_valid=False)
        fake.revoke("bob")
        with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
            connection.execute("UPDATE app.spotify_tokens SET access_token_expires_at = now() - interval '1 hour'")
        engine = create_engine(database_url)
        async with httpx.AsyncClient() as http:
            collector = Collector(engine, settings, cipher, http, policy=RetryPolicy(base_delay=0.01))
            report = await collector.run_cycle()
        await engine.dispose()
    assert report.landed == 20 and "refresh_token" in fake.token_grants
    sink.flush()

    secrets = [*fake.refresh_tokens, *fake.access, TEST_CLIENT_SECRET]
    assert len(fake.refresh_tokens) == 2 and len(fake.access) >= 3
    database = _dump_database(database_url)
    output = capsys.readouterr().out
    assert "app.spotify_tokens" in database and "gAAAAA" in database  # the ciphertexts are there
    assert [secret for secret in secrets if secret in database] == []
    assert [secret for secret in secrets if secret in output] == []
    # The logs exist, carry user and job ids, and say what happened to bob.
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT message, context FROM app.logs WHERE context ? 'job_run_id' AND context ? 'user_id'"
        ).fetchall()
    messages = " | ".join(row[0] for row in rows)
    assert "poll finished" in messages or "initial sync finished" in messages
    assert "must connect again" in messages
