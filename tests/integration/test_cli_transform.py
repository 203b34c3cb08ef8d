"""`spotify-mcp transform`, the real command: progress while it builds (steps done / total, per step), then a
summary for a person — users, plays, models and marts built, time — or `--json` for scripts; a failure says what
failed and where to look."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from core.crypto import generate_key
from core.dburl import libpq_url
from tests.conftest import ADMIN_TOKEN

USER = "00000000-0000-0000-0000-0000000000c1"


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "TMPDIR"}}
    return env | {
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SPOTIFY_MCP_HOME": str(tmp_path / "home"),
    }


def _transform(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "transform", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _listens(database_url: str, timezone: str = "Europe/Berlin") -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        (USER, f"k{n}", now - timedelta(days=n % 40, minutes=n), 200_000 if n % 5 else 10_000, f"T{n % 7}")
        for n in range(120)
    ]
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO app.users (id, display_name, timezone) VALUES (%s, 'Cleo', %s)", (USER, timezone)
        )
        connection.cursor().executemany(
            "INSERT INTO raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format, "
            "track_id, track_name, artist_name, spotify_uri) "
            "VALUES (%s, %s, %s, %s, 'track', 'extended', %s, 'Song', 'Band', 'spotify:track:' || %s)",
            [(*row, row[-1]) for row in rows],
        )


def test_transform_shows_progress_then_a_summary(database_url: str, cli: dict[str, str]) -> None:
    _listens(database_url)
    done = _transform(cli, "--full-refresh")
    assert done.returncode == 0, done.stderr
    progress = done.stderr
    assert "dbt build…" in progress and "taste clusters…" in progress and "cluster marts…" in progress
    quarter = re.search(r"dbt build: (\d+)/(\d+) \(50%\)", progress)
    assert quarter and int(quarter[2]) > 20 and int(quarter[1]) * 2 >= int(quarter[2])
    assert re.search(r"dbt build: \d+ steps done in [\d.]+s", progress)
    assert "{" not in done.stdout, "no raw JSON for a person"
    summary = done.stdout
    assert re.search(r"Warehouse built in [\d.]+s \(full refresh; job run #\d+\)", summary), summary
    with psycopg.connect(libpq_url(database_url)) as connection:
        plays = connection.execute("select count(*) from marts.fct_plays where counts_as_play").fetchone()
        marts = connection.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts' and table_type = 'BASE TABLE'"
        ).fetchone()
    assert plays is not None and plays[0] == 96 and marts is not None
    assert "1 user · 96 plays (120 listens with skips) from " in summary
    built = re.search(r"(\d+) models built \((\d+) marts\) · (\d+) tests passed", summary)
    assert built and int(built[1]) > int(built[2]) >= marts[0] > 5 and int(built[3]) > 20
    assert re.search(
        r"time: dbt build [\d.]+s · taste clusters [\d.]+s · cluster marts [\d.]+s; slowest model", summary
    )

    machine = _transform(cli, "--json")
    assert machine.returncode == 0, machine.stderr
    answer = json.loads(machine.stdout)
    assert answer["status"] == "success" and answer["stats"]["dbt"]["models"] > 0
    assert "dbt build" not in machine.stderr  # no progress for scripts


def test_a_failed_transform_says_what_failed(database_url: str, cli: dict[str, str]) -> None:
    _listens(database_url)
    # A landing table without the column a staging view reads fails the build for everyone: no user's data is
    # to blame (one user's would leave that user out and build the rest: test_transform_isolation.py).
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("alter table raw.tracks rename column name to title")
    failed = _transform(cli)
    assert failed.returncode == 1
    assert "Warehouse build failed after" in failed.stderr and "stg_spotify_api__tracks" in failed.stderr
    assert "admin UI → Jobs" in failed.stderr
