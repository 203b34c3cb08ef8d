"""The dbt warehouse on a real PostgreSQL with fixture rows (issue 5).

One database for the module: a full build (`run_transform(full_refresh=True)`, every dbt test and unit test),
then routine runs. dbt start-up costs seconds, so the transform runs a handful of times in all.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from core.dburl import libpq_url, with_database
from transform.runner import TransformOutcome, run_transform

BERLIN_USER = "00000000-0000-0000-0000-0000000000b1"
UTC_USER = "00000000-0000-0000-0000-0000000000c1"


def _admin(server_url: str, statement: str) -> None:
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as connection:
        connection.execute(statement)


def _execute(url: str, sql: str, params: dict[str, Any] | None = None) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute(sql, params)


def _rows(url: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(url)) as connection:
        return list(connection.execute(sql, params).fetchall())


FIXTURE_SQL = f"""
insert into app.users (id, display_name, timezone) values
    ('{BERLIN_USER}', 'Berlin', 'Europe/Berlin'),
    ('{UTC_USER}', 'Utc', 'UTC');

-- 1. The same listen from the API and from an export, end times 12 s apart.
insert into raw.api_plays (user_id, played_at, track_id, context_type, context_uri, item) values
    ('{BERLIN_USER}', '2026-03-01 23:30:00.250+00', 'T1', 'playlist', 'spotify:playlist:P1',
     '{{"type": "track", "name": "Night Song", "album": {{"name": "Album"}},
        "artists": [{{"id": "A1", "name": "Artist One"}}]}}');
insert into raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format, track_id,
        track_name, artist_name, album_name, spotify_uri, incognito, extra) values
    ('{BERLIN_USER}', 'k1', '2026-03-01 23:30:12+00', 215000, 'track', 'extended', 'T1', 'Night Song',
     'Artist One', 'Album', 'spotify:track:T1', false, '{{"skipped": false, "reason_end": "trackdone"}}'),
-- 2. A 10-second skip: not a play, but listening time.
    ('{BERLIN_USER}', 'k2', '2026-03-02 09:00:00+00', 10000, 'track', 'extended', 'T2', 'Skipped Song',
     'Artist Two', 'Album 2', 'spotify:track:T2', false, '{{"skipped": true}}'),
-- 3. An incognito listen: left out of every mart.
    ('{BERLIN_USER}', 'k3', '2026-03-02 10:00:00+00', 200000, 'track', 'extended', 'T3', 'Secret Song',
     'Secret Artist', 'Album 3', 'spotify:track:T3', true, null),
-- 4. A podcast episode: kept apart from music.
    ('{BERLIN_USER}', 'k4', '2026-03-02 11:00:00+00', 1200000, 'episode', 'extended', null, null, null, null,
     'spotify:episode:E1', false, null),
-- 5. An account-format record (no Spotify id, end time truncated to the minute) of an API play below.
    ('{BERLIN_USER}', 'k5', '2026-03-02 12:00:00+00', 180000, 'track', 'account',
     'local:0123456789abcdef0123456789abcdef01234567', 'Café Song', 'The Band', null, null, false, null),
-- 6. A UTC user's listens for the repeat statistics.
    ('{UTC_USER}', 'u1', '2026-03-03 08:00:00+00', 100000, 'track', 'extended', 'T1', 'Night Song', 'Artist One',
     'Album', 'spotify:track:T1', false, null),
    ('{UTC_USER}', 'u2', '2026-03-03 09:00:00+00', 100000, 'track', 'extended', 'T1', 'Night Song', 'Artist One',
     'Album', 'spotify:track:T1', false, null),
    ('{UTC_USER}', 'u3', '2026-03-03 10:00:00+00', 100000, 'track', 'extended', 'T2', 'Skipped Song', 'Artist Two',
     'Album 2', 'spotify:track:T2', false, null);
insert into raw.api_plays (user_id, played_at, track_id, item) values
    ('{BERLIN_USER}', '2026-03-02 12:00:41.500+00', 'T5',
     '{{"type": "track", "name": "Cafe Song", "artists": [{{"id": "A5", "name": "The Band"}}]}}');
"""

MART_SNAPSHOT_QUERIES = {
    "fct_plays": "select play_id, user_id, played_at, track_id, content_kind, ms_played, counts_as_play, source, "
    "context_type, track_name, primary_artist_id, local_date, local_hour, local_weekday, skipped, ingested_at "
    "from marts.fct_plays order by play_id",
    "agg_daily_listening": "select user_id, local_date, content_kind, plays, listens, ms_played, unique_tracks, "
    "unique_artists from marts.agg_daily_listening order by 1, 2, 3",
    "agg_daily_track_plays": "select user_id, local_date, track_id, primary_artist_id, plays, listens, ms_played "
    "from marts.agg_daily_track_plays order by 1, 2, 3",
    "agg_track_totals": "select user_id, track_id, primary_artist_id, single_primary_artist, plays, listens, "
    "ms_played, first_local_date, last_local_date from marts.agg_track_totals order by 1, 2",
    "agg_hourly_listening": "select user_id, local_date, local_weekday, local_hour, plays, ms_played "
    "from marts.agg_hourly_listening order by 1, 2, 4",
    "fct_listening_heatmap": "select * from marts.fct_listening_heatmap order by 1, 2, 3",
    "fct_repeat_stats": "select * from marts.fct_repeat_stats order by 1",
    "fct_coverage_daily": "select user_id, local_date, source, listens, first_played_at, last_played_at "
    "from marts.fct_coverage_daily order by 1, 2, 3",
    "dim_tracks": "select * from marts.dim_tracks order by track_id",
    "dim_artists": "select * from marts.dim_artists order by artist_id",
    "bridge_track_artists": "select * from marts.bridge_track_artists order by 1, 2",
    "dim_users": "select * from marts.dim_users order by 1",
}


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {name: _rows(url, sql) for name, sql in MART_SNAPSHOT_QUERIES.items()}


@pytest.fixture(scope="module")
def warehouse(pg_server_url: str, template_database: str) -> Iterator[tuple[str, TransformOutcome]]:
    name = f"spmcp_tx_{secrets.token_hex(5)}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = with_database(pg_server_url, name)
    try:
        _execute(url, FIXTURE_SQL)
        outcome = run_transform(url, full_refresh=True)
        yield url, outcome
    finally:
        _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_full_build_passes_every_dbt_test_and_is_recorded(warehouse: tuple[str, TransformOutcome]) -> None:
    url, outcome = warehouse
    assert outcome.status == "success", outcome.error
    assert outcome.stats["dbt"]["models"] >= 20
    assert outcome.stats["dbt"]["tests"] >= 100  # data tests and unit tests, full scope
    job = _rows(
        url,
        "select job_type, status, finished_at, stats from app.job_runs where id = %(id)s",
        {"id": outcome.job_run_id},
    )
    assert job[0][0] == "transform" and job[0][1] == "success" and job[0][2] is not None
    assert job[0][3]["dbt"]["models"] == outcome.stats["dbt"]["models"]
    schemas = {row[0] for row in _rows(url, "select schema_name from information_schema.schemata")}
    assert {"staging", "intermediate", "marts", "ml"} <= schemas


def test_an_api_play_and_the_same_listen_from_an_export_become_one_row(
    warehouse: tuple[str, TransformOutcome],
) -> None:
    url, _ = warehouse
    rows = _rows(
        url,
        "select played_at, source, ms_played, context_type, skipped, counts_as_play from marts.fct_plays "
        "where user_id = %(u)s and track_id = 'T1'",
        {"u": BERLIN_USER},
    )
    assert rows == [(datetime(2026, 3, 1, 23, 30, 0, 250000, UTC), "both", 215000, "playlist", False, True)]
    # The account-format record without a Spotify id matched the API play by normalised artist + title.
    matched = _rows(
        url,
        "select track_id, source, ms_played from marts.fct_plays where user_id = %(u)s "
        "and played_at between '2026-03-02 11:59:00+00' and '2026-03-02 12:01:00+00'",
        {"u": BERLIN_USER},
    )
    assert matched == [("T5", "both", 180000)]


def test_a_ten_second_skip_is_not_a_play_but_counts_toward_listening_time(
    warehouse: tuple[str, TransformOutcome],
) -> None:
    url, _ = warehouse
    skip = _rows(
        url,
        "select counts_as_play, ms_played, skipped, local_date from marts.fct_plays "
        "where user_id = %(u)s and track_id = 'T2'",
        {"u": BERLIN_USER},
    )
    assert skip == [(False, 10000, True, date(2026, 3, 2))]
    daily = _rows(
        url,
        "select plays, listens, ms_played from marts.agg_daily_listening where user_id = %(u)s "
        "and local_date = '2026-03-02' and content_kind = 'track'",
        {"u": BERLIN_USER},
    )
    # T2 (skip, 10 s) and the merged café song (180 s); T1 landed on 2026-03-02 too (see the next test).
    assert daily == [(2, 3, 10000 + 180000 + 215000)]
    track_day = _rows(
        url,
        "select plays, listens, ms_played from marts.agg_daily_track_plays where user_id = %(u)s and track_id = 'T2'",
        {"u": BERLIN_USER},
    )
    assert track_day == [(0, 1, 10000)]


def test_a_play_at_23_30_utc_lands_on_the_next_local_day_in_berlin(warehouse: tuple[str, TransformOutcome]) -> None:
    url, _ = warehouse
    rows = _rows(
        url,
        "select local_date, local_hour, local_weekday from marts.fct_plays where user_id = %(u)s and track_id = 'T1'",
        {"u": BERLIN_USER},
    )
    # 2026-03-01 23:30 UTC is 00:30 on Monday 2026-03-02 in Berlin (CET, UTC+1).
    assert rows == [(date(2026, 3, 2), 0, 1)]
    heat = _rows(
        url,
        "select plays from marts.fct_listening_heatmap where user_id = %(u)s and local_weekday = 1 and local_hour = 0",
        {"u": BERLIN_USER},
    )
    assert heat == [(1,)]


def test_incognito_is_excluded_and_content_kinds_are_kept_apart(warehouse: tuple[str, TransformOutcome]) -> None:
    url, _ = warehouse
    assert _rows(url, "select count(*) from marts.fct_plays where track_id = 'T3'") == [(0,)]
    assert _rows(url, "select count(*) from marts.dim_tracks where track_id = 'T3'") == [(0,)]
    episode = _rows(
        url, "select track_id, content_kind, counts_as_play from marts.fct_plays where content_kind = 'episode'"
    )
    assert episode == [("E1", "episode", True)]
    assert _rows(url, "select count(*) from marts.agg_daily_track_plays where track_id = 'E1'") == [(0,)]
    kinds = _rows(
        url,
        "select content_kind, ms_played from marts.agg_daily_listening where user_id = %(u)s "
        "and content_kind = 'episode'",
        {"u": BERLIN_USER},
    )
    assert kinds == [("episode", 1200000)]


def test_repeat_stats_and_coverage(warehouse: tuple[str, TransformOutcome]) -> None:
    url, _ = warehouse
    stats = _rows(
        url,
        "select plays, unique_tracks, repeat_rate, top10_share, tracks_played_once, "
        "max_plays_single_track from marts.fct_repeat_stats where user_id = %(u)s",
        {"u": UTC_USER},
    )
    assert stats == [(3, 2, pytest.approx(1 - 2 / 3), 1.0, 1, 2)]
    totals = _rows(
        url,
        "select track_id, plays, listens, ms_played, first_local_date, last_local_date from marts.agg_track_totals "
        "where user_id = %(u)s order by 1",
        {"u": UTC_USER},
    )
    assert totals == [
        ("T1", 2, 2, 200000, date(2026, 3, 3), date(2026, 3, 3)),
        ("T2", 1, 1, 100000, date(2026, 3, 3), date(2026, 3, 3)),
    ]
    coverage = _rows(
        url,
        "select local_date, source, listens from marts.fct_coverage_daily where user_id = %(u)s order by 1, 2",
        {"u": BERLIN_USER},
    )
    assert coverage == [
        (date(2026, 3, 2), "import_zip", 4),  # T1 (merged), T2, E1, café song (merged); not the incognito one
        (date(2026, 3, 2), "spotify_api", 2),
    ]


def test_rerunning_changes_nothing_and_late_exports_merge_like_a_full_rebuild(
    warehouse: tuple[str, TransformOutcome],
) -> None:
    url, _ = warehouse
    before = _snapshot(url)
    again = run_transform(url)
    assert again.status == "success", again.error
    assert _snapshot(url) == before

    # An API play lands; then, later, the export with the same listen: the incremental run merges them and
    # removes the API-only row, exactly as a rebuild from scratch would.
    _execute(
        url,
        f"""
        insert into raw.api_plays (user_id, played_at, track_id, item) values
            ('{UTC_USER}', '2026-03-04 20:00:05+00', 'T7',
             '{{"type": "track", "name": "Late", "artists": [{{"id": "A7", "name": "Seven"}}]}}')""",
    )
    assert run_transform(url).status == "success"
    assert _rows(url, "select source from marts.fct_plays where track_id = 'T7'") == [("spotify_api",)]
    _execute(
        url,
        f"""
        insert into raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format,
            track_id, track_name, artist_name, spotify_uri, incognito)
        values ('{UTC_USER}', 'late', '2026-03-04 20:00:00+00', 95000, 'track', 'extended', 'T7', 'Late', 'Seven',
            'spotify:track:T7', false)""",
    )
    incremental = run_transform(url)
    assert incremental.status == "success", incremental.error
    assert _rows(url, "select source, ms_played from marts.fct_plays where track_id = 'T7'") == [("both", 95000)]
    after_incremental = _snapshot(url)
    assert after_incremental["fct_repeat_stats"] != before["fct_repeat_stats"]

    rebuilt = run_transform(url, full_refresh=True)
    assert rebuilt.status == "success", rebuilt.error
    after_rebuild = _snapshot(url)
    # transformed_at (not compared) is the only difference.
    for name in MART_SNAPSHOT_QUERIES:
        assert after_rebuild[name] == after_incremental[name], name


def test_dbt_docs_generate_works(warehouse: tuple[str, TransformOutcome], tmp_path: Path) -> None:
    from transform.runner import generate_docs

    url, _ = warehouse
    generate_docs(url, tmp_path / "docs")
    assert (tmp_path / "docs" / "index.html").exists()
    catalog = (tmp_path / "docs" / "catalog.json").read_text()
    assert '"model.spotify_mcp.fct_plays"' in catalog
    manifest = (tmp_path / "docs" / "manifest.json").read_text()
    assert "one row per real listen" in manifest
