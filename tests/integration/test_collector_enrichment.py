"""Enrichment against the fake: artist details, audio features only while available (removed endpoints are
remembered per app, across processes), `local:` export tracks resolved via search, and none of it blocks
polling."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import TokenCipher, generate_key
from core.db import create_engine
from core.dburl import libpq_url
from core.settings import load_settings
from core.spotify.policy import RetryPolicy
from ingest.collector import Collector
from ingest.imports.worker import process_pending_imports
from tests.fakes.spotify import FakeSpotify, connect_user, spotify_env
from tests.fixtures import exports
from tests.live_server import live_server


class Env:
    def __init__(self, fake: FakeSpotify, base: str, database_url: str, engine: AsyncEngine, http: httpx.AsyncClient):
        self.fake, self.base, self.database_url, self.engine, self.http = fake, base, database_url, engine, http
        self.key = generate_key()
        self.cipher = TokenCipher([self.key])

    def collector(self, **env: str) -> Collector:
        settings = load_settings(
            spotify_env(self.database_url, self.base, self.key, INITIAL_SYNC_ENABLED="false", **env)
        )
        return Collector(self.engine, settings, self.cipher, self.http, policy=RetryPolicy(base_delay=0.01))

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(libpq_url(self.database_url)) as connection:
            return connection.execute(sql, params or None).fetchall()

    def calls(self, prefix: str) -> int:
        return sum(1 for call in self.fake.calls if call.path.startswith(prefix))


@pytest.fixture(params=["new_app", "legacy"])
def fake_server(request: pytest.FixtureRequest) -> Iterator[tuple[FakeSpotify, str]]:
    fake = FakeSpotify(mode=request.param)
    with live_server(fake.app) as base:
        yield fake, base


@pytest.fixture
async def env(fake_server: tuple[FakeSpotify, str], database_url: str) -> AsyncIterator[Env]:
    engine = create_engine(database_url, application_name="enrichment tests")
    async with httpx.AsyncClient() as http:
        yield Env(fake_server[0], fake_server[1], database_url, engine, http)
    await engine.dispose()


async def test_artists_and_audio_features_per_app_capabilities(env: Env) -> None:
    connect_user(env.database_url, env.cipher, env.fake, "u1", plays=12)
    report = await env.collector().run_cycle()
    assert report.landed == 12 and report.enriched > 0
    # Spend nothing twice: tracks, albums and artists come from the objects recently-played embeds.
    assert env.calls("/v1/tracks") == 0 and env.calls("/v1/albums") == 0
    embedded = env.rows("SELECT count(*), count(album_id), count(album_name) FROM raw.tracks")[0]
    assert embedded[0] == embedded[1] == embedded[2] == len({play.track_id for play in env.fake.users["u1"].plays})
    assert env.rows("SELECT count(*) FROM raw.track_artists")[0][0] >= embedded[0]
    artists = env.rows("SELECT count(*), count(details_fetched_at), count(popularity) FROM raw.artists")[0]
    assert artists[0] == artists[1] > 0
    assert env.rows("SELECT DISTINCT genres::text FROM raw.artists") == [('["indie pop"]',)]
    job = env.rows("SELECT status, stats FROM app.job_runs WHERE job_type = 'enrich'")
    assert job[0][0] == "success" and job[0][1]["artists"] == artists[0]
    features = env.rows("SELECT count(*), count(tempo) FROM raw.audio_features")[0]
    removed = env.rows(
        "SELECT endpoint FROM app.spotify_endpoint_status WHERE NOT available AND client_id = 'fake-client-id' "
        "ORDER BY endpoint"
    )
    if env.fake.mode == "legacy":
        assert artists[2] == artists[0]  # popularity exists for legacy apps
        assert features == (12, 12)
        assert removed == []
        assert env.calls("/v1/artists/") == 0 and env.calls("/v1/artists") == 1  # one batch call
    else:
        assert artists[2] == 0
        assert features == (0, 0) and job[0][1]["audio_features_unavailable"] is True
        assert removed == [("GET /artists",), ("GET /audio-features",), ("GET /audio-features/{id}",)]
        # Remembered per app, also by a new process (a fresh collector loads it from the database).
        before = env.calls("/v1/audio-features") + env.calls("/v1/artists")
        connect_user(env.database_url, env.cipher, env.fake, "u2", plays=3)
        await env.collector().run_cycle()
        batch_calls = [call for call in env.fake.calls if call.path in ("/v1/artists", "/v1/audio-features")]
        assert len(batch_calls) == 2  # only the first discovery of each
        assert env.calls("/v1/audio-features") + env.calls("/v1/artists") >= before


async def test_name_only_plays_are_resolved_once_each_as_a_budgeted_backlog(env: Env, tmp_path: Path) -> None:
    """Account-data exports name tracks without ids. Each name is settled once: from a track polling already
    fetched (no request), from an earlier lookup of the same title and artist (no request), or by one search
    whose answer is landed so the track is never fetched again."""
    user_id, _ = connect_user(env.database_url, env.cipher, env.fake, "u1", plays=3)  # polls fetch 3 tracks
    polled = env.fake.tracks[env.fake.users["u1"].plays[0].track_id]
    polled_artist = env.fake.artists[polled.artist_ids[0]].name
    blue_monday = env.fake.add_track("Blue Monday", ["New Order"], album="Power, Corruption & Lies")
    env.fake.add_track("Blue Monday", ["Orkestra Obsolete"], album="Covers")
    records = [
        exports.account_music("2026-01-05 10:00", 60000, artist="New Order", track="Blue Monday - 2015 Remaster"),
        exports.account_music("2026-01-05 10:05", 60000, artist="New Order", track="Blue Monday"),
        exports.account_music("2026-01-05 10:10", 60000, artist="Nobody", track="A Song Nobody Has"),
        exports.account_music("2026-01-05 10:15", 60000, artist=polled_artist, track=polled.name),
    ]
    path = exports.build_zip(tmp_path / "my_spotify_data.zip", {"StreamingHistory_music_0.json": records})
    settings = load_settings(spotify_env(env.database_url, env.base, env.key))
    with psycopg.connect(libpq_url(env.database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO app.import_jobs (user_id, storage_path, original_filename, origin, file_size_bytes) "
            "VALUES (%s, %s, 'my_spotify_data.zip', 'cli', 1)",
            (user_id, str(path)),
        )
    assert await process_pending_imports(env.engine, settings, worker_id="test") == 4
    assert env.rows("SELECT count(*) FROM raw.tracks WHERE track_id LIKE 'local:%'")[0][0] == 4
    collector = env.collector()
    await collector.run_cycle()  # polls the 3 plays first, then enriches
    resolutions = {
        row[0]: row[1:]
        for row in env.rows(
            "SELECT e.track_name, r.status, r.spotify_track_id, r.method, r.confidence FROM raw.track_resolutions r "
            "JOIN raw.export_records e ON e.track_id = r.local_track_id"
        )
    }
    assert resolutions["Blue Monday - 2015 Remaster"][:2] == ("resolved", blue_monday.id)
    assert resolutions["Blue Monday"][:2] == ("resolved", blue_monday.id)
    # One search served both spellings (same normalised title and artist); the polled track needed none.
    assert {resolutions[name][2] for name in ("Blue Monday", "Blue Monday - 2015 Remaster")} == {"search"}
    assert resolutions[polled.name][:3] == ("resolved", polled.id, "catalog")
    assert resolutions[polled.name][3] == 0.95  # title and artist exact; account data names no album
    assert resolutions["A Song Nobody Has"][:3] == ("not_found", None, "search")
    searches = [call for call in env.fake.calls if call.path == "/v1/search"]
    assert len(searches) == 2 and all(int(call.params["limit"]) <= 10 for call in searches)
    # The track the search settled on was landed from the search answer: known with its album and artists.
    assert env.rows("SELECT album_name FROM raw.tracks WHERE track_id = %s", blue_monday.id) == [
        ("Power, Corruption & Lies",)
    ]
    job = env.rows("SELECT stats FROM app.job_runs WHERE job_type = 'enrich' ORDER BY id DESC LIMIT 1")[0][0]
    assert (job["searches"], job["resolved_from_catalog"], job["resolved"], job["not_found"]) == (2, 1, 3, 1)
    # A later export with the same names (another album, another file) is settled from the cache.
    again = [exports.account_music("2026-02-01 09:00", 90000, artist="New Order", track="Blue Monday (Live)")]
    second = exports.build_zip(tmp_path / "second.zip", {"StreamingHistory_music_0.json": again})
    with psycopg.connect(libpq_url(env.database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO app.import_jobs (user_id, storage_path, original_filename, origin, file_size_bytes) "
            "VALUES (%s, %s, 'second.zip', 'cli', 1)",
            (user_id, str(second)),
        )
    await process_pending_imports(env.engine, settings, worker_id="test")
    await collector.run_cycle()
    assert len([call for call in env.fake.calls if call.path == "/v1/search"]) == 2  # nothing searched twice
    assert env.rows(
        "SELECT r.status, r.method FROM raw.track_resolutions r JOIN raw.export_records e "
        "ON e.track_id = r.local_track_id WHERE e.track_name = 'Blue Monday (Live)'"
    ) == [("resolved", "cache")]


async def test_enrichment_stops_at_its_budget_share_and_never_blocks_polling(env: Env) -> None:
    """Enrichment may spend at most SPOTIFY_ENRICHMENT_SHARE of the budget; then it pauses itself (nothing is
    sent) and polling goes on."""
    connect_user(env.database_url, env.cipher, env.fake, "u1", plays=12)  # a dozen artists to look up
    collector = env.collector(
        SPOTIFY_REQUEST_BUDGET="40", SPOTIFY_POLLING_RESERVE="10", SPOTIFY_ENRICHMENT_SHARE="0.025"
    )
    report = await collector.run_cycle()
    assert report.landed == 12
    job = env.rows("SELECT status, error_message FROM app.job_runs WHERE job_type = 'enrich'")
    assert job[0][0] == "error" and "share of the Spotify budget" in job[0][1] and "paused until" in job[0][1]
    spent = env.rows("SELECT count(*) FROM app.spotify_requests WHERE purpose = 'enrichment'")[0][0]
    assert spent == 1  # 2.5 % of 40: one batch request (new apps: the batch that answers "removed")
    assert env.rows("SELECT status FROM app.job_runs WHERE job_type = 'poll'") == [("success",)]
    with psycopg.connect(libpq_url(env.database_url), autocommit=True) as connection:
        connection.execute("UPDATE app.sync_checkpoints SET next_poll_at = now()")
    calls = env.calls("/v1/artists")
    assert (await collector.run_cycle()).polls == 1
    assert env.calls("/v1/artists") == calls  # enrichment waits for its share to come back; polling went on
    # Every request, whatever its purpose, was counted: what Spotify saw is what the ledger holds.
    counted = env.rows("SELECT count(*) FROM app.spotify_requests")[0][0]
    assert counted == len(env.fake.calls) + len(env.fake.token_grants)
