"""All-time answers read the all-time mart `agg_track_totals` (one row per track) instead of every per-day row,
and answer exactly what the per-day path (`agg_daily_track_plays`) answers on the same data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.dburl import libpq_url
from core.marts.windows import make_span
from core.settings import Settings
from serve.api.app import create_app
from serve.tools import repository as repo
from tests.approx import approx_tree
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import DERIVE_SQL, History, record_transform, standard_history
from tests.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# What makes the two paths easy to get subtly different, added to the standard history (400 days):
# - trackA is played under two primary artists on different days (an API play names `artist1`, an export record
#   without enrichment a `local:` artist; one day has no artist at all): per-track totals take the largest artist
#   of the window's days, per-artist totals count each day under its own artist;
# - trackS has only skips (listening time, no play) by `artist2`, whose time includes it;
# - artistZ has only skips (no play at all), so it is no top artist;
# - trackT1 and trackT2 tie on plays and time (ordered by id).
EXTRA_PLAYS_SQL = """
INSERT INTO marts.fct_plays (play_id, user_id, played_at, track_id, content_kind, ms_played, counts_as_play, source,
                             track_name, primary_artist_id, primary_artist_name, local_date, local_hour,
                             local_weekday, ingested_at)
SELECT md5(%(u)s || x.track_id || x.n), %(u)s::uuid, x.at, x.track_id, 'track', x.ms, x.ms IS NULL OR x.ms >= 30000,
       'import_zip', x.track_id || ' name', x.artist_id, x.artist_id || ' name',
       (x.at AT TIME ZONE %(tz)s)::date, extract(hour FROM x.at AT TIME ZONE %(tz)s)::smallint,
       extract(isodow FROM x.at AT TIME ZONE %(tz)s)::smallint, x.at
FROM (
    SELECT n::text AS n, 'trackA' AS track_id,
           CASE n %% 3 WHEN 0 THEN 'artist1' WHEN 1 THEN 'local:other' ELSE NULL END AS artist_id,
           %(now)s::timestamptz - make_interval(days => 3 * n, hours => 2) AS at, 180000 AS ms
    FROM generate_series(1, 40) AS n
    UNION ALL
    SELECT n::text, 'trackS', 'artist2', %(now)s::timestamptz - make_interval(days => n, hours => 3), 12000
    FROM generate_series(1, 25) AS n
    UNION ALL
    SELECT n::text, 'trackZ', 'artistZ', %(now)s::timestamptz - make_interval(days => n, hours => 4), 5000
    FROM generate_series(1, 5) AS n
    UNION ALL
    SELECT n::text || t.id, t.id, 'artistT', %(now)s::timestamptz - make_interval(days => 2 * n, hours => 5), 95000
    FROM generate_series(1, 7) AS n CROSS JOIN (VALUES ('trackT1'), ('trackT2')) AS t(id)
) AS x
"""
EXTRA_ROWS_SQL = """
INSERT INTO marts.dim_tracks (track_id, name, primary_artist_id, source)
VALUES ('trackA', 'Song A', 'artist1', 'import_zip'), ('trackS', 'Song S', 'artist2', 'import_zip'),
       ('trackZ', 'Song Z', 'artistZ', 'import_zip'), ('trackT1', 'Song T1', 'artistT', 'import_zip'),
       ('trackT2', 'Song T2', 'artistT', 'import_zip');
INSERT INTO marts.dim_artists (artist_id, name, source) VALUES ('artistZ', 'Artist Z', 'import_zip'),
       ('artistT', 'Artist T', 'import_zip');
INSERT INTO raw.audio_features (track_id, energy, danceability, valence, tempo)
VALUES ('track0', 0.9, 0.8, 0.7, 128), ('track3', 0.2, NULL, 0.1, 90), ('trackA', 0.5, 0.5, 0.5, 100);
"""

ALL_TIME_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("history.taste_summary", {"period": "all_time", "limit": 50}),
    ("history.taste_summary", {"days": 5000, "limit": 3}),
    ("history.top_artists", {"period": "all_time", "limit": 50}),
    ("history.top_tracks", {"period": "all_time", "limit": 50}),
    ("history.repeat_rate", {"period": "all_time"}),
    ("history.compare_periods", {"period": "all_time", "compare_to": "last_month", "limit": 50}),
    ("history.compare_periods", {"period": "last_month", "compare_to": "all_time", "limit": 50}),
]


@pytest.fixture
def history(database_url: str) -> History:
    now = datetime.now(UTC)
    found = standard_history(database_url, now)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(EXTRA_PLAYS_SQL, {"u": str(found.user_id), "tz": found.timezone, "now": now})
        connection.execute(EXTRA_ROWS_SQL)
        connection.execute(DERIVE_SQL.read_text())
    record_transform(database_url, now - timedelta(minutes=5))
    return found


def all_time_answers(settings: Settings, database_url: str) -> list[dict[str, Any]]:
    """Every all-time call through `/mcp/call` of a freshly started API (an empty result cache)."""
    answers: list[dict[str, Any]] = []
    with live_server(create_app(settings, database_url)) as base:
        for tool, args in ALL_TIME_CALLS:
            response = httpx.post(f"{base}/mcp/call", json={"tool": tool, "args": args}, headers=ADMIN, timeout=30)
            assert response.status_code == 200, response.text
            answers.append(response.json()["result"])
    return answers


def test_all_time_answers_from_the_totals_mart_equal_the_per_day_answers(
    settings: Settings, database_url: str, history: History
) -> None:
    from_totals = all_time_answers(settings, database_url)
    summary = from_totals[0]
    assert summary["window"]["label"] == "all_time"
    assert summary["audio_profile"] is not None
    assert {"trackA", "trackT1", "trackT2"} <= {track["track_id"] for track in summary["top_tracks"]}
    assert "artistZ" not in {artist["artist_id"] for artist in from_totals[2]["artists"]}

    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("DROP TABLE marts.agg_track_totals")  # a warehouse built before the mart existed
    per_day = all_time_answers(settings, database_url)

    for (tool, args), fast, slow in zip(ALL_TIME_CALLS, from_totals, per_day, strict=True):
        assert fast == approx_tree(slow), (tool, args)


def test_all_time_answers_read_the_totals_mart(settings: Settings, database_url: str, history: History) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            "UPDATE marts.agg_track_totals SET plays = plays + 1000 WHERE user_id = %s AND track_id = 'track5'",
            (history.user_id,),
        )
    summary = all_time_answers(settings, database_url)[0]
    assert summary["top_tracks"][0]["track_id"] == "track5"  # only the mart says so
    assert summary["top_tracks"][0]["plays"] > 1000


async def _both_paths(session: AsyncSession, user_id: UUID, name: str, *args: Any) -> tuple[Any, Any]:
    call = getattr(repo, name)
    bounds = await repo.bounds(session, user_id)
    assert bounds.first_date is not None and bounds.last_date is not None
    window = make_span(
        "all",
        bounds.first_date - timedelta(days=3),
        bounds.last_date + timedelta(days=1),
        ZoneInfo("UTC"),
        date.today(),
    )
    return (
        await call(session, user_id, window, *args, all_time=True),
        await call(session, user_id, window, *args, all_time=False),
    )


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("window_summary", (1,)),
        ("window_summary", (500,)),
        ("top_artists", (500,)),
        ("top_tracks", (500,)),
        ("repeat_window", ()),
        ("audio_profile", ()),
        ("artist_plays", ()),
    ],
)
async def test_repository_all_time_queries_equal_the_per_day_queries(
    engine: AsyncEngine, history: History, name: str, args: tuple[Any, ...]
) -> None:
    async with AsyncSession(engine) as session:
        from_totals, per_day = await _both_paths(session, history.user_id, name, *args)
    assert from_totals == approx_tree(per_day)
    assert from_totals  # not trivially equal


def test_per_artist_totals_count_each_day_under_its_own_artist(
    settings: Settings, database_url: str, history: History
) -> None:
    answers = dict(zip((tool for tool, _ in ALL_TIME_CALLS), all_time_answers(settings, database_url), strict=False))
    artists = {artist["artist_id"]: artist for artist in answers["history.top_artists"]["artists"]}
    other = artists["local:other"]
    assert other["plays"] == sum(1 for n in range(1, 41) if n % 3 == 1)  # trackA's days under the local artist
    tracks = {track["track_id"]: track for track in answers["history.top_tracks"]["tracks"]}
    assert tracks["trackA"]["plays"] == 40
    assert "trackS" not in tracks  # skips only
