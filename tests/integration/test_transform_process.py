"""The transform as a process: it never stalls the API, a stop request ends its run as `interrupted`, and a run
left `running` by a killed process is marked `abandoned` when the next process starts. Real dbt, real processes,
real signals, real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import generate_key
from core.dburl import libpq_url
from core.settings import Settings
from ingest.jobs import abandon_orphaned_jobs
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.live_server import live_server
from transform.process import ADVISORY_LOCK_KEY, EXIT_CODES, abandon_orphaned_runs, command, run_in_process

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _rows(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(libpq_url(database_url)) as connection:
        cursor = connection.execute(
            "select id, status, started_at, finished_at, error_message, stats from app.job_runs "
            "where job_type = 'transform' order by id"
        )
        names = [column.name for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 180) -> None:
    """Poll until `condition` holds; the bound only keeps a regression from hanging the suite."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def _running(database_url: str) -> bool:
    return any(row["status"] == "running" for row in _rows(database_url))


def _orphan(database_url: str) -> int:
    """A transform row as a killed process leaves it."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        row = connection.execute(
            "insert into app.job_runs (job_type, status, started_at, worker_id) "
            "values ('transform', 'running', now() - interval '1 hour', 'gone:1') returning id"
        ).fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def _child(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _cli_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "ADMIN_TOKEN": ADMIN_TOKEN,
    }


@pytest.mark.parametrize("entry", ["python -m transform", "spotify-mcp transform"])
def test_sigterm_mid_transform_records_the_run_as_interrupted(database_url: str, tmp_path: Path, entry: str) -> None:
    argv = command() if entry.startswith("python") else [sys.executable, "-m", "cli.main", "transform", "--wait", "0"]
    log = tmp_path / "child.log"
    with _child(argv, _cli_env(database_url), log) as process:
        _wait_for(lambda: _running(database_url) or process.poll() is not None, "the transform to start")
        assert process.poll() is None, log.read_text()[-3000:]
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
    assert code == EXIT_CODES["interrupted"], log.read_text()[-3000:]
    [row] = _rows(database_url)
    assert row["status"] == "interrupted", row
    assert row["finished_at"] is not None and "signal" in row["error_message"]
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:  # the lock was released
        assert connection.execute("select pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone() == (True,)


async def test_a_stop_request_from_the_parent_interrupts_the_child(database_url: str) -> None:
    """What the collector does on SIGTERM (docker stop signals only its main process)."""
    stop = asyncio.Event()
    running = asyncio.create_task(run_in_process(database_url, stop=stop))
    while not await asyncio.to_thread(_running, database_url):
        assert not running.done(), "the transform ended before it was stopped"
        await asyncio.sleep(0.1)
    stop.set()
    async with asyncio.timeout(120):  # only a bound against a hang
        assert await running == "interrupted"
    assert [row["status"] for row in _rows(database_url)] == ["interrupted"]


def test_a_killed_transform_is_marked_abandoned_at_the_next_start(database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    with _child(command(), _cli_env(database_url), log) as process:
        _wait_for(lambda: _running(database_url) or process.poll() is not None, "the transform to start")
        assert process.poll() is None, log.read_text()[-3000:]
        # While its process lives and holds the lock, its row is not an orphan.
        assert abandon_orphaned_runs(database_url) == 0
        assert [row["status"] for row in _rows(database_url)] == ["running"]
        process.kill()
        process.wait()
    assert [row["status"] for row in _rows(database_url)] == ["running"]  # what SIGKILL leaves behind
    # The server notices the dead connection (and frees its lock) a moment later.
    _wait_for(lambda: abandon_orphaned_runs(database_url) == 1, "the dead process's lock to be freed")
    [row] = _rows(database_url)
    assert row["status"] == "abandoned" and row["finished_at"] is not None
    assert "stopped without finishing" in row["error_message"]


def test_admin_transform_runs_off_the_event_loop(settings: Settings, database_url: str) -> None:
    """While a transform started by POST /admin/transform runs, other requests keep answering promptly (before,
    the first one stalled every request for the seconds dbt took to import, and dbt's GIL then slowed them)."""
    orphan = _orphan(database_url)
    answered: list[tuple[float, float]] = []  # (sent at, seconds to answer)
    stop = threading.Event()

    def probe(base: str) -> None:
        with httpx.Client(timeout=120) as http:
            while not stop.is_set():
                sent = time.monotonic()
                assert http.get(f"{base}/healthz").status_code == 200
                answered.append((sent, time.monotonic() - sent))
                time.sleep(0.05)

    with live_server(create_app(settings, database_url)) as base:
        prober = threading.Thread(target=probe, args=(base,), daemon=True)
        prober.start()
        _wait_for(lambda: len(answered) >= 3, "the probe to start")
        posted = time.monotonic()
        response = httpx.post(f"{base}/admin/transform", params={"full_refresh": "true"}, headers=ADMIN, timeout=120)
        post_seconds = time.monotonic() - posted
        assert response.status_code == 202, response.text
        again = httpx.post(f"{base}/admin/transform", headers=ADMIN, timeout=120)
        assert again.status_code == 409  # one at a time from this API
        _wait_for(
            lambda: any(row["id"] != orphan and row["finished_at"] is not None for row in _rows(database_url)),
            "the transform to finish",
            seconds=600,
        )
        finished = time.monotonic()
        stop.set()
        prober.join(timeout=120)
    duration = finished - posted
    during = [seconds for sent, seconds in answered if posted <= sent <= finished]
    rows = {row["id"]: row for row in _rows(database_url)}
    run = next(row for row_id, row in rows.items() if row_id != orphan)
    assert run["status"] == "success", run
    assert run["stats"]["full_refresh"] is True  # the option reached the child
    assert rows[orphan]["status"] == "abandoned"  # the run found it under the lock
    # Relative to the transform's own duration, not absolute times: the API answered all along.
    assert len(during) >= 10, (len(during), duration)
    assert max(during) < duration / 5, (max(during), duration)
    assert post_seconds < duration / 5, (post_seconds, duration)


def test_stopping_the_api_interrupts_the_transform_it_started(settings: Settings, database_url: str) -> None:
    with live_server(create_app(settings, database_url)) as base:
        assert httpx.post(f"{base}/admin/transform", headers=ADMIN, timeout=120).status_code == 202
        _wait_for(lambda: _running(database_url), "the transform to start")
    _wait_for(lambda: not _running(database_url), "the transform to be interrupted")
    assert [row["status"] for row in _rows(database_url)] == ["interrupted"]


async def test_collector_jobs_of_a_gone_worker_are_abandoned(engine: AsyncEngine, database_url: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        for worker, state, seen in (
            ("alive", "running", now),
            ("silent", "running", now - timedelta(minutes=10)),
            ("stopped", "stopped", now),
        ):
            connection.execute(
                "insert into app.worker_heartbeats (worker_id, service, hostname, pid, state, last_seen_at) "
                "values (%s, 'collector', 'h', 1, %s, %s)",
                (worker, state, seen),
            )
        for worker, job_type in (("alive", "poll"), ("silent", "poll"), ("stopped", "enrich"), ("never", "poll")):
            connection.execute(
                "insert into app.job_runs (job_type, status, worker_id) values (%s, 'running', %s)", (job_type, worker)
            )
        connection.execute("insert into app.job_runs (job_type, status, worker_id) values ('poll', 'success', 'x')")
    assert await abandon_orphaned_jobs(engine) == 3
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute("select worker_id, status from app.job_runs where job_type <> 'transform'")
        statuses: dict[str, str] = dict(rows.fetchall())
    assert statuses == {
        "alive": "running",
        "silent": "abandoned",
        "stopped": "abandoned",
        "never": "abandoned",
        "x": "success",
    }
