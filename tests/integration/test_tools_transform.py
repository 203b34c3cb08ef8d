"""End to end through the real warehouse: raw export rows -> the real transform (dbt) -> the tools."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from core.dburl import libpq_url
from core.settings import Settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import CONTRACT_SQL, add_user
from tests.live_server import live_server
from transform.runner import run_transform

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_tools_answer_from_the_marts_the_real_transform_builds(settings: Settings, database_url: str) -> None:
    user = add_user(database_url, "UTC", "exporter")
    now = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for day in range(1, 11):
        for index, (track, artist, ms) in enumerate(
            [("Alpha", "Band A", 200_000), ("Alpha", "Band A", 180_000), ("Beta", "Band B", 10_000)]
        ):
            played_at = now - timedelta(days=day, minutes=10 * index)
            rows.append((user, f"k{day}-{index}", played_at, ms, f"local:{track}", track, artist, "Album"))
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.cursor().executemany(
            "INSERT INTO raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format, "
            "track_id, track_name, artist_name, album_name) "
            "VALUES (%s, %s, %s, %s, 'track', 'extended', %s, %s, %s, %s)",
            rows,
        )
    outcome = run_transform(database_url)
    assert outcome.ok, outcome.error
    with live_server(create_app(settings, database_url)) as base:
        response = httpx.post(
            f"{base}/mcp/call", json={"tool": "history.taste_summary", "args": {"days": 30}}, headers=ADMIN, timeout=60
        )
        assert response.status_code == 200, response.text
        summary = response.json()["result"]
        assert summary["plays"] == 20  # the 10-second listens of Beta do not count
        assert summary["top_artists"][0]["name"] == "Band A" and summary["top_artists"][0]["plays"] == 20
        assert summary["unique_tracks"] == 1
        assert summary["freshness"]["last_transform_at"] is not None
        assert summary["coverage"]["days_with_data"] == 10


def _columns(connection: psycopg.Connection[Any], schema: str) -> dict[str, dict[str, str]]:
    rows = connection.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = %s",
        (schema,),
    ).fetchall()
    found: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        found.setdefault(table, {})[column] = data_type
    return found


def test_the_marts_contract_matches_what_the_real_transform_builds(database_url: str) -> None:
    """tests/fixtures/marts_contract.sql (what the tools tests and the tools benchmark build instead of running dbt)
    names the columns and types dbt builds: every contract column exists in the dbt mart with the same type."""
    user = add_user(database_url, "Europe/Berlin", "contract")
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format, "
            "track_id, track_name, artist_name, album_name) "
            "VALUES (%s, 'c1', %s, 200000, 'track', 'extended', 'local:c', 'Gamma', 'Band C', 'Album')",
            (user, now - timedelta(days=2)),
        )
    outcome = run_transform(database_url)
    assert outcome.ok, outcome.error
    contract_sql = CONTRACT_SQL.read_text().replace("SCHEMA IF NOT EXISTS marts", "SCHEMA contract")
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(contract_sql.replace("marts.", "contract."))
        built, contract = _columns(connection, "marts"), _columns(connection, "contract")
    assert "agg_track_totals" in contract
    for table, columns in contract.items():
        assert table in built, f"the transform builds no marts.{table}"
        for column, data_type in columns.items():
            assert built[table].get(column) == data_type, (table, column, data_type, built[table].get(column))
