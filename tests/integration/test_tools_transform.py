"""End to end through the real warehouse: raw export rows -> the real transform (dbt) -> the tools."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from core.dburl import libpq_url
from core.settings import Settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import add_user
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
