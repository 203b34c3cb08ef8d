"""The Streamlit pages with AppTest on a real database: the marts of the contract (tests/fixtures/
marts_contract.sql) filled with synthetic plays, DuckDB attached read-only; and every page with no marts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.dburl import libpq_url
from dashboards import data

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboards" / "streamlit_app.py")
MARTS_SQL = ROOT / "tests" / "fixtures" / "marts_contract.sql"
PAGES = [
    "app_pages/overview.py",
    "app_pages/top.py",
    "app_pages/artist.py",
    "app_pages/year.py",
    "app_pages/compare.py",
    "app_pages/heatmap.py",
    "app_pages/clusters.py",
    "app_pages/repeat.py",
    "app_pages/discovery.py",
    "app_pages/coverage.py",
    "app_pages/explorer.py",
]

# Fills every mart from synthetic fct_plays: %(n)s plays ending 2026-11-20, spread over two years.
FILL_SQL = """
INSERT INTO marts.dim_users (user_id, timezone, display_name) VALUES (%(user_id)s::uuid, %(tz)s, %(name)s);
INSERT INTO marts.fct_plays
SELECT md5(%(user_id)s::text || ts::text || track_id), %(user_id)s::uuid, ts, track_id, 'track', ms,
       ms >= 30000 OR ms IS NULL,
       CASE WHEN i %% 5 = 0 THEN 'spotify_api' ELSE 'import_zip' END, NULL, NULL,
       'Track ' || (i %% %(tracks)s), 'Album ' || (i %% 60),
       'art' || (i %% %(artists)s), 'Artist ' || (i %% %(artists)s),
       (ts AT TIME ZONE %(tz)s)::date, extract(hour FROM ts AT TIME ZONE %(tz)s)::smallint,
       extract(isodow FROM ts AT TIME ZONE %(tz)s)::smallint, NULL, now()
FROM (
    SELECT i, timestamptz '2026-11-20 22:00:00+00' - (i * (interval '730 days' / %(n)s)) AS ts,
           'trk' || ((i::bigint * 7919) %% %(tracks)s) AS track_id,
           CASE WHEN i %% 9 = 0 THEN 12000 ELSE 185000 END AS ms
    FROM generate_series(1, %(n)s) AS i
) AS generated;
INSERT INTO marts.dim_tracks (track_id, name, album_name, duration_ms, source, primary_artist_id, primary_artist_name)
SELECT track_id, min(track_name), min(album_name), 200000, 'import_zip', min(primary_artist_id),
       min(primary_artist_name)
FROM marts.fct_plays WHERE user_id = %(user_id)s::uuid GROUP BY track_id ON CONFLICT DO NOTHING;
INSERT INTO marts.dim_artists (artist_id, name, source)
SELECT DISTINCT primary_artist_id, primary_artist_name, 'import_zip'
FROM marts.fct_plays WHERE user_id = %(user_id)s::uuid
ON CONFLICT DO NOTHING;
INSERT INTO marts.agg_daily_listening
SELECT user_id, local_date, content_kind, count(*) FILTER (WHERE counts_as_play), count(*), coalesce(sum(ms_played), 0),
       count(DISTINCT track_id), count(DISTINCT primary_artist_id)
FROM marts.fct_plays WHERE user_id = %(user_id)s::uuid GROUP BY 1, 2, 3;
INSERT INTO marts.agg_daily_track_plays
SELECT user_id, local_date, track_id, min(primary_artist_id), count(*) FILTER (WHERE counts_as_play), count(*),
       coalesce(sum(ms_played), 0)
FROM marts.fct_plays WHERE user_id = %(user_id)s::uuid GROUP BY 1, 2, 3;
INSERT INTO marts.agg_track_totals
SELECT user_id, track_id, max(primary_artist_id),
       min(primary_artist_id) IS NOT DISTINCT FROM max(primary_artist_id) AND count(primary_artist_id) IN (0, count(*)),
       sum(plays), sum(listens), sum(ms_played), min(local_date), max(local_date)
FROM marts.agg_daily_track_plays WHERE user_id = %(user_id)s::uuid GROUP BY user_id, track_id;
INSERT INTO marts.agg_hourly_listening
SELECT user_id, local_date, min(local_weekday), local_hour, count(*) FILTER (WHERE counts_as_play),
       coalesce(sum(ms_played), 0)
FROM marts.fct_plays WHERE user_id = %(user_id)s::uuid GROUP BY user_id, local_date, local_hour;
INSERT INTO marts.fct_listening_heatmap
SELECT user_id, local_weekday, local_hour, count(*) FILTER (WHERE counts_as_play), coalesce(sum(ms_played), 0)
FROM marts.fct_plays WHERE user_id = %(user_id)s::uuid GROUP BY 1, 2, 3;
INSERT INTO marts.fct_repeat_stats
SELECT %(user_id)s::uuid, sum(plays), count(*), 1 - count(*)::float / nullif(sum(plays), 0), 0.2,
       count(*) FILTER (WHERE plays = 1), max(plays)
FROM (SELECT track_id, count(*) FILTER (WHERE counts_as_play) AS plays FROM marts.fct_plays
      WHERE user_id = %(user_id)s::uuid GROUP BY track_id) AS per_track;
INSERT INTO marts.fct_coverage_daily
SELECT user_id, local_date, source, count(*), min(played_at), max(played_at)
FROM marts.fct_plays WHERE user_id = %(user_id)s::uuid GROUP BY 1, 2, 3;
INSERT INTO marts.fct_taste_clusters
SELECT %(user_id)s::uuid, 'last_90_days', timestamptz '2026-08-22', timestamptz '2026-11-20', c,
       'Cluster ' || c || ' late night',
       (3 - c) / 6.0, 100 * (3 - c), '[{"artist_id": "art1", "name": "Artist 1", "plays": 50}]'::jsonb,
       '[{"track_id": "trk1", "name": "Track 1", "artist_name": "Artist 1", "plays": 20}]'::jsonb,
       '{"hour_profile": "late night"}'::jsonb, 'behaviour', 3, 0.41, now()
FROM generate_series(0, 2) AS c;
INSERT INTO marts.fct_taste_cluster_artists
SELECT %(user_id)s::uuid, 'last_90_days', a %% 3, 'art' || a, 10 FROM generate_series(0, %(artists)s - 1) AS a;
"""


def create_marts(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(MARTS_SQL.read_text())


def load_marts(database_url: str, *, plays: int = 3000, name: str = "Ada", timezone: str = "Europe/Berlin") -> str:
    """Create the contract's marts (if absent) and fill them for one new user; returns the user id."""
    create_marts(database_url)
    user_id = str(uuid.uuid4())
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        params = {
            "user_id": user_id,
            "tz": timezone,
            "name": name,
            "n": plays,
            "tracks": max(400, plays // 20),
            "artists": max(80, plays // 100),
        }
        for statement in FILL_SQL.split(";\n"):
            if statement.strip():
                connection.execute(statement, params)
    return user_id


@pytest.fixture
def dashboards_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DASHBOARDS_DATABASE_URL", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield database_url
    st.cache_data.clear()
    st.cache_resource.clear()


def _run(page: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    if page is not None:
        app.switch_page(page)
        app.run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def _texts(app: AppTest) -> str:
    parts = (
        [item.value for item in app.markdown] + [item.value for item in app.info] + [item.value for item in app.error]
    )
    parts += [item.value for item in app.caption] + [item.value for item in app.title]
    return "\n".join(str(part) for part in parts)


def test_every_page_renders_without_marts(dashboards_env: str) -> None:
    for page in PAGES:
        app = _run(page)
        text = _texts(app)
        assert "No analytics yet" in text or "No marts yet" in text, (page, text)
        assert not app.error, (page, [item.value for item in app.error])
    # dbt builds the marts while Streamlit runs: the next look (after the cache TTL) sees them.
    load_marts(dashboards_env, plays=500, name="Late", timezone="UTC")
    st.cache_data.clear()
    app = _run()
    assert app.sidebar.selectbox[0].options == ["Late"]
    assert {metric.label for metric in app.metric} >= {"Plays", "Minutes listened"}


def _metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def _charts(app: AppTest) -> list[dict[str, Any]]:
    return [json.loads(cast(Any, chart).proto.spec) for chart in app.get("vega_lite_chart")]


def test_pages_with_data(dashboards_env: str) -> None:
    user_id = load_marts(dashboards_env, plays=3000, name="Ada", timezone="Europe/Berlin")
    load_marts(dashboards_env, plays=200, name="Bob", timezone="America/New_York")

    overview = _run()
    assert overview.title[0].value == "Overview"
    assert overview.sidebar.selectbox[0].options == ["Ada", "Bob"]
    assert int(_metrics(overview)["Different artists"]) == 80
    overview.radio[0].set_value("All time").run()
    assert _metrics(overview)["Plays"] == f"{3000 - 3000 // 9:,}"  # 1 in 9 listens is under 30 s
    titles = [
        chart["title"]["text"] if isinstance(chart["title"], dict) else chart["title"] for chart in _charts(overview)
    ]
    assert titles[:2] == ["Plays per month", "Hours per month"]  # two years and more: not a daily barcode
    for window, grain in (("Last 365 days", "week"), ("Last 30 days", "day")):
        overview.radio[0].set_value(window).run()
        assert [chart["title"] for chart in _charts(overview)][:1] == [f"Plays per {grain}"], window

    heat = _run("app_pages/heatmap.py")
    assert "Europe/Berlin" in _texts(heat)
    assert len(heat.get("vega_lite_chart")) == 3
    assert "Most plays on" in _texts(heat)

    top = _run("app_pages/top.py")
    assert top.dataframe[0].value.shape[0] == 20
    assert top.dataframe[0].value.columns.tolist() == ["rank", "artist", "plays", "minutes", "share"]
    assert top.dataframe[1].value.columns.tolist() == ["rank", "track", "artist", "plays", "minutes", "share"]
    assert (top.dataframe[0].value["plays"] > 0).all()

    artist = _run("app_pages/artist.py")
    artist.text_input[0].set_value("Artist 1").run()
    assert all("Artist 1" in option for option in artist.selectbox(key="artist_pick").options)
    assert artist.header[0].value.startswith("Artist 1")
    assert int(_metrics(artist)["Plays"].replace(",", "")) > 0
    assert "First play" in _texts(artist)
    assert len(artist.get("vega_lite_chart")) == 2

    year = _run("app_pages/year.py")
    assert {"Minutes listened", "Plays", "New artists", "Busiest day", "Longest streak"} <= set(_metrics(year))
    assert len(year.get("vega_lite_chart")) >= 4

    comparison = _run("app_pages/compare.py")
    assert "Compared last 30 days" in _texts(comparison)
    assert {"Plays", "Minutes listened", "Plays per day"} <= set(_metrics(comparison))

    clusters = _run("app_pages/clusters.py")
    assert len(clusters.expander) == 3
    text = _texts(clusters)
    assert "silhouette 0.41" in text and "how you listen" in text
    assert "last_90_days" not in text and "[{" not in text
    assert len(clusters.get("vega_lite_chart")) == 2  # shares and shares over time

    repeat = _run("app_pages/repeat.py")
    assert {metric.label for metric in repeat.metric} >= {"Repeat rate", "Top-10 share"}
    histogram = json.dumps(_charts(repeat)[0])
    assert '"scale": {"type": "symlog"}' in histogram and "log scale" in histogram

    discovery = _run("app_pages/discovery.py")
    assert int(_metrics(discovery)["New artists"]) == 80
    assert len(discovery.get("vega_lite_chart")) == 3

    coverage = _run("app_pages/coverage.py")
    assert set(coverage.dataframe[0].value["source"].tolist()) == {"Spotify export (ZIP)", "Spotify API (polled)"}
    assert "Days with data" in _metrics(coverage)

    explorer = _run("app_pages/explorer.py")
    explorer.text_area[0].set_value(f"SELECT count(*) AS n FROM pg.marts.fct_plays WHERE user_id = '{user_id}'").run()
    explorer.button[0].click().run()
    assert explorer.dataframe[0].value["n"].tolist() == [3000]
    downloads = explorer.get("download_button")
    assert len(downloads) == 2
    assert [cast(Any, button).proto.label for button in downloads] == ["Download CSV", "Download Parquet"]
    for hostile in (
        "DROP TABLE pg.marts.fct_plays",
        "SELECT * FROM postgres_query('pg', 'SELECT * FROM app.spotify_tokens')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT 1; SELECT 2",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
    ):
        explorer.text_area[0].set_value(hostile).run()
        explorer.button[0].click().run()
        assert explorer.error, hostile
    with psycopg.connect(libpq_url(dashboards_env)) as connection:
        assert connection.execute("SELECT count(*) FROM marts.fct_plays").fetchone() == (3200,)


def test_connection_is_read_only(dashboards_env: str) -> None:
    create_marts(dashboards_env)
    connection = data.open_connection(dashboards_env)
    assert connection.execute(
        "SELECT * FROM postgres_query('pg', 'SELECT current_setting(''default_transaction_read_only'')')"
    ).fetchall() == [("on",)]
    with pytest.raises(Exception, match=r"read.only|READ_ONLY|read-only"):
        connection.execute("INSERT INTO pg.marts.dim_users VALUES ('00000000-0000-0000-0000-000000000000', 'UTC', 'x')")
    with pytest.raises(Exception, match=r"read.only|cannot execute"):
        connection.execute("CALL postgres_execute('pg', 'DELETE FROM marts.dim_users')")
    connection.close()
