"""End to end through the real warehouse: raw export rows -> the real transform (dbt) -> the tools."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

from core.dburl import libpq_url
from core.settings import Settings
from serve.api.app import create_app
from tests.approx import approx_tree
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import CONTRACT_SQL, add_user
from tests.integration.test_tools_all_time import ALL_TIME_CALLS, all_time_answers
from tests.live_server import live_server
from transform.runner import run_transform

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_tools_answer_from_the_marts_the_real_transform_builds(settings: Settings, database_url: str) -> None:
    user = add_user(database_url, "UTC", "exporter")
    # Noon, so the three plays of a day (20 minutes apart) never straddle midnight: run just after 00:00 UTC, the
    # 10-second play of "day 1" fell on the day before and coverage counted 11 days (CI failed that way once).
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
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


def test_all_time_answers_from_the_built_totals_mart_equal_the_per_day_answers(
    settings: Settings, database_url: str
) -> None:
    """On marts the real transform builds: API plays (artist id from the API) and export records of the same
    tracks under an artist name nothing resolves (a `local:` artist), skips, several days; every all-time answer
    is the same with marts.agg_track_totals and without it (the per-day rows)."""
    user = add_user(database_url, "Europe/Berlin", "both")
    now = datetime.now(UTC).replace(microsecond=0)
    exports: list[tuple[Any, ...]] = []
    api: list[tuple[Any, ...]] = []
    tracks = [("T1", "One", 200_000), ("T2", "Two", 20_000), ("T3", "Three", 150_000)]  # T2: skips
    for day in range(1, 15):
        for index, (track, name, ms) in enumerate(tracks):
            played_at = now - timedelta(days=day, minutes=7 * index)
            if (day + index) % 2:
                item = {"type": "track", "name": name, "artists": [{"id": f"A{track}", "name": f"Band {name}"}]}
                api.append((user, played_at, track, Jsonb(item)))
            else:
                key = f"b{day}-{index}"
                # Under a name no API play carries (the band renamed, say), so no source maps it to the API's
                # artist id and it stays a `local:` artist: the track's primary artist varies by play.
                exports.append((user, key, played_at, ms, track, name, f"The {name}s", f"spotify:track:{track}"))
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.cursor().executemany(
            "INSERT INTO raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format, "
            "track_id, track_name, artist_name, spotify_uri) "
            "VALUES (%s, %s, %s, %s, 'track', 'extended', %s, %s, %s, %s)",
            exports,
        )
        connection.cursor().executemany(
            "INSERT INTO raw.api_plays (user_id, played_at, track_id, item) VALUES (%s, %s, %s, %s)", api
        )
    outcome = run_transform(database_url, full_refresh=True)
    assert outcome.ok, outcome.error
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        varying = connection.execute(
            "SELECT count(*) FROM marts.agg_track_totals WHERE user_id = %s AND NOT single_primary_artist", (user,)
        ).fetchone()
        assert varying is not None and varying[0] > 0  # the case per-artist totals must get right
    from_totals = all_time_answers(settings, database_url)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("DROP TABLE marts.agg_track_totals")
    per_day = all_time_answers(settings, database_url)
    for (tool, args), fast, slow in zip(ALL_TIME_CALLS, from_totals, per_day, strict=True):
        assert fast == approx_tree(slow), (tool, args)
