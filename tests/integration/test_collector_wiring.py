"""The `collector` command's composition: imports, Spotify and the real transform wired together — one
cycle against the fake lands plays and leaves them in the warehouse's marts."""

from __future__ import annotations

import psycopg

from cli.commands.collector import run_collector
from core.crypto import TokenCipher, generate_key
from core.dburl import libpq_url
from core.settings import load_settings
from tests.fakes.spotify import FakeSpotify, connect_user, spotify_env
from tests.live_server import live_server


async def test_one_cycle_of_the_command_lands_plays_and_runs_the_transform(database_url: str) -> None:
    fake = FakeSpotify()
    key = generate_key()
    connect_user(database_url, TokenCipher([key]), fake, "ann", plays=20)
    with live_server(fake.app) as base:
        settings = load_settings(spotify_env(database_url, base, key))
        await run_collector(settings, database_url, once=True, tick=None)
    with psycopg.connect(libpq_url(database_url)) as connection:
        jobs = connection.execute("SELECT job_type, status FROM app.job_runs ORDER BY id").fetchall()
        marts = connection.execute("SELECT count(*) FROM marts.fct_plays").fetchone()
    assert jobs == [("initial_sync", "success"), ("enrich", "success"), ("transform", "success")]
    assert marts == (20,)
