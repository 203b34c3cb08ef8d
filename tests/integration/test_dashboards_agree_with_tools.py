"""A dashboard and an assistant never disagree on the same question (issues 15.8, 20.11).

The demo history (two years, through the real import path) goes through the real transform (dbt + clusters); then
every figure both faces show is asked of the dashboards' figure functions (DuckDB over PostgreSQL) and of the tools
over `POST /mcp/call`, for the same windows, and must be equal.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import streamlit as st

from cli.demo import seed_demo
from core.crypto import generate_key
from core.dburl import libpq_url, with_database
from core.marts.windows import Period, Span, equal_spans, local_today, make_span, period_span, preceding, user_zone
from core.settings import Settings, load_settings
from dashboards import figures
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PERIODS = (Period.last_30_days, Period.last_90_days, Period.last_365_days, Period.this_year, Period.all_time)


def _admin(server_url: str, statement: str) -> None:
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as connection:
        connection.execute(statement)


class Faces:
    """The demo user's warehouse, the API on loopback, and the dashboards' figures on the same database."""

    def __init__(self, base: str, user_id: str, timezone: str) -> None:
        self.base = base
        self.user_id = user_id
        self.timezone = timezone

    def tool(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"{self.base}/mcp/call",
            json={"tool": name, "args": {"user_id": self.user_id} | args},
            headers=ADMIN,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["result"]
        return result

    def span(self, period: Period) -> Span:
        zone = user_zone(self.timezone)
        return period_span(period, zone, local_today(zone, datetime.now(UTC)), figures.bounds(self.user_id).first_date)


@pytest.fixture(scope="module")
def faces(pg_server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faces]:
    name = f"spmcp_agree_{secrets.token_hex(5)}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = with_database(pg_server_url, name)
    home: Path = tmp_path_factory.mktemp("agree-home")
    settings: Settings = load_settings(
        {
            "DATABASE_URL": url,
            "TOKEN_ENCRYPTION_KEY": generate_key(),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SPOTIFY_MCP_HOME": str(home),
        }
    )
    saved = {key: os.environ.get(key) for key in ("DATABASE_URL", "DASHBOARDS_DATABASE_URL")}
    try:
        demo = seed_demo(settings, url)
        assert demo.import_status == "success" and demo.transform_status == "success", demo
        os.environ["DATABASE_URL"] = url
        os.environ.pop("DASHBOARDS_DATABASE_URL", None)
        st.cache_data.clear()
        st.cache_resource.clear()
        with live_server(create_app(settings, url)) as base:
            yield Faces(base, str(demo.user_id), "Europe/Berlin")
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _window(span: Span) -> dict[str, str]:
    return {"start": span.start_date.isoformat(), "end": span.end_date.isoformat()}


@pytest.mark.parametrize("period", PERIODS)
def test_totals_top_lists_heatmap_repeat_and_coverage_agree(faces: Faces, period: Period) -> None:
    span = faces.span(period)
    summary = faces.tool("history.taste_summary", {"period": period.value, "limit": 1})
    assert summary["window"]["start_date"] == span.start_date.isoformat()
    assert summary["window"]["end_date"] == span.end_date.isoformat()  # both end today in the user's zone
    mine = figures.summary(faces.user_id, span)
    assert summary["plays"] > 0
    assert (mine.plays, mine.unique_tracks, mine.unique_artists, mine.minutes) == (
        summary["plays"],
        summary["unique_tracks"],
        summary["unique_artists"],
        summary["listening_minutes"],
    )

    artists = faces.tool("history.top_artists", {"period": period.value, "limit": 25})["artists"]
    shown = figures.top_artists(faces.user_id, span, 25)
    assert shown.select("rank", "artist_id", "name", "plays", "minutes", "share").rows() == [
        (
            item["rank"],
            item["artist_id"],
            item["name"],
            item["plays"],
            item["listening_minutes"],
            item["share_of_plays"],
        )
        for item in artists
    ]
    assert min(item["plays"] for item in artists) > 0  # 15.8: no artist with 0 plays
    tracks = faces.tool("history.top_tracks", {"period": period.value, "limit": 25})["tracks"]
    shown = figures.top_tracks(faces.user_id, span, 25)
    assert shown.select("rank", "track_id", "name", "artist_name", "plays", "minutes", "share").rows() == [
        (
            item["rank"],
            item["track_id"],
            item["name"],
            item["artist_name"],
            item["plays"],
            item["listening_minutes"],
            item["share_of_plays"],
        )
        for item in tracks
    ]

    heatmap = faces.tool("history.listening_heatmap", {"period": period.value})["heatmap"]
    found = figures.heatmap(faces.user_id, span)
    assert (found.grid, found.peak_weekday, found.peak_hour, found.plays) == (
        heatmap["weekday_hour_plays"],
        heatmap["peak_weekday"],
        heatmap["peak_hour"],
        heatmap["plays"],
    )

    repeat = faces.tool("history.repeat_rate", {"period": period.value})["repeat_stats"]
    stats = figures.repeat(faces.user_id, span)
    assert {
        "plays": stats.plays,
        "unique_tracks": stats.unique_tracks,
        "repeat_rate": stats.repeat_rate,
        "top10_share": stats.top10_share,
        "tracks_played_once": stats.tracks_played_once,
        "max_plays_single_track": stats.max_plays_single_track,
    } == repeat

    coverage = faces.tool("history.coverage", {"period": period.value})["coverage"]
    mine_coverage = figures.coverage(faces.user_id, span)
    assert (
        mine_coverage.days_with_data,
        mine_coverage.days_elapsed,
        mine_coverage.coverage_ratio,
        mine_coverage.complete,
        mine_coverage.note,
        [(gap.start_date.isoformat(), gap.end_date.isoformat(), gap.days) for gap in mine_coverage.largest_gaps],
    ) == (
        coverage["days_with_data"],
        coverage["days_elapsed"],
        coverage["coverage_ratio"],
        coverage["complete"],
        coverage["note"],
        [(gap["start_date"], gap["end_date"], gap["days"]) for gap in coverage["largest_gaps"]],
    )


def test_custom_dates_agree(faces: Faces) -> None:
    today = faces.span(Period.last_30_days).today
    span = make_span(
        "custom", today - timedelta(days=200), today - timedelta(days=60), user_zone(faces.timezone), today
    )
    summary = faces.tool("history.taste_summary", _window(span) | {"limit": 10})
    mine = figures.summary(faces.user_id, span)
    assert (mine.plays, mine.unique_tracks, mine.unique_artists, mine.minutes) == (
        summary["plays"],
        summary["unique_tracks"],
        summary["unique_artists"],
        summary["listening_minutes"],
    )
    assert figures.top_artists(faces.user_id, span, 10)["artist_id"].to_list() == [
        item["artist_id"] for item in summary["top_artists"]
    ]


@pytest.mark.parametrize(
    ("period", "compare_to"),
    [
        (Period.this_month, None),
        (Period.last_30_days, None),
        (Period.this_month, Period.last_month),
        (Period.this_year, Period.last_year),
    ],
)
def test_comparisons_agree(faces: Faces, period: Period, compare_to: Period | None) -> None:
    args: dict[str, Any] = {"period": period.value, "limit": 15}
    first = faces.span(period)
    if compare_to is None:
        second = preceding(period, first)
    else:
        args["compare_to"] = compare_to.value
        second = faces.span(compare_to)
    first, second = equal_spans(first, second)
    answer = faces.tool("history.compare_periods", args)
    assert (answer["period"]["window"]["start_date"], answer["period"]["window"]["end_date"]) == (
        first.start_date.isoformat(),
        first.end_date.isoformat(),
    )
    assert (answer["compare_to"]["window"]["start_date"], answer["compare_to"]["window"]["end_date"]) == (
        second.start_date.isoformat(),
        second.end_date.isoformat(),
    )
    mine = figures.comparison(faces.user_id, first, second, 15)
    for side, stats in (("period", mine.first), ("compare_to", mine.second)):
        assert (stats.plays, stats.minutes, stats.unique_tracks, stats.unique_artists) == (
            answer[side]["plays"],
            answer[side]["listening_minutes"],
            answer[side]["unique_tracks"],
            answer[side]["unique_artists"],
        )
    assert mine.movers.select(
        "artist_id", "name", "plays", "compare_plays", "change", "rank", "compare_rank"
    ).rows() == [
        (m["artist_id"], m["name"], m["plays"], m["compare_plays"], m["change"], m["rank"], m["compare_rank"])
        for m in answer["top_movers"]
    ]
    assert mine.new_artists.select("artist_id", "plays", "minutes", "share").rows() == [
        (a["artist_id"], a["plays"], a["listening_minutes"], a["share_of_plays"]) for a in answer["new_artists"]
    ]


def test_clusters_agree(faces: Faces) -> None:
    answer = faces.tool("history.taste_clusters", {"period": "all_time"})
    assert answer["window_name"] == "all_time" and answer["clusters"]
    mine = figures.cluster_rows(faces.user_id, "all_time")
    assert [
        (row["cluster_id"], row["label"], round(float(row["share_of_plays"]), 4), int(row["plays"]), row["top_artists"])
        for row in mine
    ] == [
        (
            cluster["cluster_id"],
            cluster["label"],
            cluster["share_of_plays"],
            cluster["plays"],
            [{key: item[key] for key in ("artist_id", "name", "plays")} for item in cluster["top_artists"]],
        )
        for cluster in answer["clusters"]
    ]
    # A cluster's members add up to its plays: the share over time and the year's mix rest on them.
    span = faces.span(Period.all_time)
    mix = {row["cluster_id"]: row["plays"] for row in figures.cluster_mix(faces.user_id, "all_time", span)}
    assert mix == {cluster["cluster_id"]: cluster["plays"] for cluster in answer["clusters"]}


@pytest.mark.parametrize("period", [Period.last_90_days, Period.all_time])
def test_the_artist_page_agrees_with_the_top_artists(faces: Faces, period: Period) -> None:
    span = faces.span(period)
    artists = faces.tool("history.top_artists", {"period": period.value, "limit": 5})["artists"]
    for item in artists:
        profile = figures.artist_profile(faces.user_id, item["artist_id"], span)
        assert (profile["name"], profile["plays"], profile["minutes"], profile["rank"], profile["share"]) == (
            item["name"],
            item["plays"],
            item["listening_minutes"],
            item["rank"],
            item["share_of_plays"],
        )


def test_a_year_in_review_agrees_with_the_tools_on_that_year(faces: Faces) -> None:
    years = figures.active_years(faces.user_id)
    today = faces.span(Period.last_30_days).today
    year = next(value for value in years if value < today.year)
    span = make_span(str(year), date(year, 1, 1), date(year, 12, 31), user_zone(faces.timezone), today)
    summary = faces.tool("history.taste_summary", _window(span) | {"limit": 10})
    mine = figures.summary(faces.user_id, span)
    assert (mine.plays, mine.minutes, mine.unique_artists) == (
        summary["plays"],
        summary["listening_minutes"],
        summary["unique_artists"],
    )
    assert figures.top_tracks(faces.user_id, span, 10)["track_id"].to_list() == [
        item["track_id"] for item in summary["top_tracks"]
    ]
    assert figures.heatmap(faces.user_id, span).hour_totals == summary["heatmap"]["hour_totals"]
