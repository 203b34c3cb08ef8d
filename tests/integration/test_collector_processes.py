"""Real OS processes of `spotify-mcp collector` against one database and the fake Spotify over HTTP:
two collectors poll each user exactly once per interval; SIGTERM mid-cycle loses and duplicates nothing."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from core.crypto import TokenCipher, generate_key
from core.dburl import libpq_url
from tests.fakes.spotify import FakeSpotify, connect_user, spotify_env
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 10


@pytest.fixture
def fake_server() -> Iterator[tuple[FakeSpotify, str]]:
    fake = FakeSpotify()
    with live_server(fake.app) as base:
        yield fake, base


def _rows(database_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(database_url)) as connection:
        return connection.execute(sql, params).fetchall()


def _start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "collector", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes], timeout: float = 15) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def test_two_collector_processes_poll_each_user_exactly_once_per_interval(
    fake_server: tuple[FakeSpotify, str], database_url: str, tmp_path: Path
) -> None:
    fake, base = fake_server
    key = generate_key()
    cipher = TokenCipher([key])
    users: dict[str, UUID] = {}
    refresh_tokens = []
    for name in ("ann", "ben", "cat", "dan"):
        users[name], refresh = connect_user(database_url, cipher, fake, name, plays=50)
        refresh_tokens.append(refresh)
    env = spotify_env(
        database_url,
        base,
        key,
        COLLECTOR_INTERVAL_SECONDS=str(INTERVAL),
        # The claim mechanics at a fixed interval; adaptive intervals are tested in test_collector_cadence.py.
        COLLECTOR_ADAPTIVE_POLLING="false",
        INITIAL_SYNC_ENABLED="false",
        ENRICHMENT_ENABLED="false",
        TRANSFORM_ENABLED="false",
    )
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    processes = [_start(env, log, "--tick", "0.2") for log in logs]
    try:
        _wait_for(lambda: len(_rows(database_url, "SELECT 1 FROM app.worker_heartbeats")) == 2, 60, "both collectors")
        started = time.monotonic()
        time.sleep(2.5 * INTERVAL)
        window = time.monotonic() - started
    finally:
        codes = [_stop(process) for process in processes]
    assert codes == [0, 0]
    states = _rows(database_url, "SELECT state FROM app.worker_heartbeats")
    assert states == [("stopped",), ("stopped",)]
    polls = _rows(
        database_url,
        "SELECT user_id, started_at, status, (stats->>'pages')::int FROM app.job_runs "
        "WHERE job_type = 'poll' ORDER BY started_at",
    )
    expected_most = int(window // INTERVAL) + 2  # polls in a window of k intervals: at most k + 1 (+1 startup)
    for name, user_id in users.items():
        mine = [row for row in polls if row[0] == user_id]
        assert 2 <= len(mine) <= expected_most, (name, len(mine))
        assert all(row[2] == "success" for row in mine)
        gaps = [(later[1] - earlier[1]).total_seconds() for earlier, later in itertools.pairwise(mine)]
        # Claims are exactly INTERVAL apart; job start times may lag a claim a little on a loaded machine.
        assert all(gap >= INTERVAL * 0.8 for gap in gaps), (name, gaps)
        # Every Spotify fetch belongs to one of these polls: no collector asked on its own.
        assert len(fake.calls_for("/v1/me/player/recently-played", name)) == sum(row[3] for row in mine)
        assert _rows(database_url, "SELECT count(*) FROM raw.api_plays WHERE user_id = %s", user_id) == [(50,)]
    # No refresh token in what either process wrote to stdout.
    output = b"".join(log.read_bytes() for log in logs).decode()
    assert '"level": "info"' in output and "collector" in output
    assert not any(token in output for token in refresh_tokens)


def test_sigterm_mid_request_finishes_the_unit_in_hand(
    fake_server: tuple[FakeSpotify, str], database_url: str, tmp_path: Path
) -> None:
    fake, base = fake_server
    key = generate_key()
    user_id, _ = connect_user(database_url, TokenCipher([key]), fake, "ann", plays=50)
    env = spotify_env(
        database_url, base, key, INITIAL_SYNC_ENABLED="false", ENRICHMENT_ENABLED="false", TRANSFORM_ENABLED="false"
    )
    fake.delay_seconds = 1.5
    process = _start(env, tmp_path / "collector.log", "--tick", "0.2")
    try:
        _wait_for(lambda: fake.in_flight > 0, 60, "a Spotify request in flight")
    finally:
        code = _stop(process)
    assert code == 0
    assert _rows(database_url, "SELECT count(*) FROM raw.api_plays") == [(50,)]
    assert _rows(database_url, "SELECT status FROM app.job_runs WHERE job_type = 'poll'") == [("success",)]
    assert _rows(database_url, "SELECT state FROM app.worker_heartbeats") == [("stopped",)]
    # Run again with the user due: the same plays come back, nothing is duplicated.
    fake.delay_seconds = 0
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("UPDATE app.sync_checkpoints SET next_poll_at = now(), last_poll_latest_played_at = NULL")
        connection.execute("DELETE FROM raw.api_plays WHERE played_at = (SELECT max(played_at) FROM raw.api_plays)")
    once = _start(env, tmp_path / "once.log", "--once")
    assert once.wait(timeout=60) == 0
    assert _rows(database_url, "SELECT count(*), count(DISTINCT (played_at, track_id)) FROM raw.api_plays") == [
        (50, 50)
    ]
    assert _rows(
        database_url, "SELECT stats->>'inserted' FROM app.job_runs WHERE job_type = 'poll' ORDER BY id DESC LIMIT 1"
    ) == [("1",)]
    del user_id


def test_sigterm_during_a_backoff_rolls_the_unit_back_and_hands_the_user_back(
    fake_server: tuple[FakeSpotify, str], database_url: str, tmp_path: Path
) -> None:
    fake, base = fake_server
    key = generate_key()
    connect_user(database_url, TokenCipher([key]), fake, "ann", plays=50)
    env = spotify_env(
        database_url, base, key, INITIAL_SYNC_ENABLED="false", ENRICHMENT_ENABLED="false", TRANSFORM_ENABLED="false"
    )
    fake.rate_limit(45, times=1)  # short enough to be slept inside the job
    process = _start(env, tmp_path / "collector.log", "--tick", "0.2")
    try:
        _wait_for(lambda: any(call.status == 429 for call in fake.calls), 60, "the 429")
        time.sleep(0.3)
    finally:
        began = time.monotonic()
        code = _stop(process)
    assert code == 0 and time.monotonic() - began < 10  # did not sit out the 45 s
    assert _rows(database_url, "SELECT count(*) FROM raw.api_plays") == [(0,)]
    status, error = _rows(database_url, "SELECT status, error_message FROM app.job_runs")[0]
    assert status == "error" and "shutdown" in error
    assert _rows(database_url, "SELECT status, next_poll_at <= now() FROM app.sync_checkpoints") == [("idle", True)]
    once = _start(env, tmp_path / "once.log", "--once")
    assert once.wait(timeout=60) == 0
    assert _rows(database_url, "SELECT count(*) FROM raw.api_plays") == [(50,)]


def test_collector_on_an_unmigrated_database_says_what_to_do(
    empty_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.main import main  # the composition root, in-process

    for name, value in spotify_env(empty_database_url, "http://127.0.0.1:9", generate_key()).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SPOTIFY_MCP_HOME", str(tmp_path))
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        assert main(["collector", "--once"]) == 2
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
    assert "run `spotify-mcp migrate` first" in capsys.readouterr().err
