"""The figures of a period in review and of one artist (core.marts.recap, core.marts.artists) on a real PostgreSQL,
against the same figures computed by hand from the listens; run the way the dashboards run them (parameters
rendered as literals, `core.marts.sql.render`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row

from core.dburl import libpq_url
from core.marts import artists, rankings, recap
from core.marts.sql import Query, render
from core.marts.windows import Grain, make_span
from tests.fixtures.marts import Listen, add_user, create_marts, load_listens, story_marts_sql

ZONE = ZoneInfo("Europe/Berlin")
TODAY = date(2026, 11, 20)
NAMES = {f"a{n}": f"Artist {n}" for n in range(6)} | {f"t{n}": f"Song {n}" for n in range(12)}


def at(day: date, hour: int = 20) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE).astimezone(UTC)


def history() -> list[Listen]:
    """a0/t0 every day of the last 400 days; a1/t1 from 200 days ago; a2/t2 only skips 150 days ago, then plays
    from 20 days ago; a3/t3 a single play 5 days ago; a4's t4 and t5 (two tracks) every 3rd day from 60 days ago;
    extra plays of t0 from 40 days ago (5) to 30 days ago (15: the busiest day)."""
    listens: list[Listen] = []
    for ago in range(400):
        day = TODAY - timedelta(days=ago)
        listens.append(Listen(at(day), "t0", "a0"))
        if ago <= 200:
            listens.append(Listen(at(day, 21), "t1", "a1"))
        if ago == 150:
            listens.append(Listen(at(day, 22), "t2", "a2", ms_played=5_000))
        if ago <= 20:
            listens.append(Listen(at(day, 22), "t2", "a2"))
        if ago == 5:
            listens.append(Listen(at(day, 23), "t3", "a3"))
        if ago <= 60 and ago % 3 == 0:
            listens.append(Listen(at(day, 9), "t4", "a4"))
            listens.append(Listen(at(day, 10), "t5", "a4"))
        if 30 <= ago <= 40:
            listens += [Listen(at(day, 8) + timedelta(minutes=4 * n), "t0", "a0") for n in range(45 - ago)]
    return listens


@pytest.fixture
def marts(database_url: str) -> Iterator[tuple[psycopg.Connection[dict[str, Any]], UUID]]:
    create_marts(database_url)
    user = add_user(database_url, "Europe/Berlin", "recap")
    load_listens(database_url, user, "Europe/Berlin", history(), NAMES)
    with psycopg.connect(libpq_url(database_url), autocommit=True, row_factory=dict_row) as connection:
        connection.execute("UPDATE marts.dim_tracks SET album_name = 'Album ' || track_id WHERE track_id <> 't5'")
        connection.execute("UPDATE marts.dim_tracks SET album_name = 'Album t4' WHERE track_id = 't5'")
        yield connection, user


def rows(connection: psycopg.Connection[dict[str, Any]], query: Query) -> list[dict[str, Any]]:
    return connection.execute(render(query)).fetchall()


def span(days_ago_start: int, days_ago_end: int = 0) -> Any:
    return make_span("w", TODAY - timedelta(days=days_ago_start), TODAY - timedelta(days=days_ago_end), ZONE, TODAY)


def test_discoveries_are_first_plays_inside_the_window(marts: tuple[psycopg.Connection[Any], UUID]) -> None:
    connection, user = marts
    last_30 = span(29)
    counts = rows(connection, recap.discovery_counts(user, last_30))[0]
    # a2 (its skip 150 days ago is no play), a3; tracks t2, t3 — a4/t4/t5 began 60 days ago.
    assert (counts["new_artists"], counts["new_tracks"]) == (2, 2)
    found = rows(connection, recap.new_artists(user, last_30, 10))
    assert [(row["artist_id"], row["name"], row["plays"], row["first_day"]) for row in found] == [
        ("a2", "Artist 2", 21, TODAY - timedelta(days=20)),
        ("a3", "Artist 3", 1, TODAY - timedelta(days=5)),
    ]
    tracks = rows(connection, recap.new_tracks(user, last_30, 10))
    assert [(row["track_id"], row["name"], row["artist_name"]) for row in tracks] == [
        ("t2", "Song 2", "Artist 2"),
        ("t3", "Song 3", "Artist 3"),
    ]
    weekly = rows(connection, recap.discoveries_over_time(user, last_30, Grain.week))
    assert sum(row["new_artists"] for row in weekly) == 2 and sum(row["days"] for row in weekly) == 30
    assert weekly[0]["period_start"] == last_30.start_date  # the first week starts with the window
    # A window from the first day of the history: everything in it is new.
    everything = rows(connection, recap.discovery_counts(user, span(399)))[0]
    assert (everything["new_artists"], everything["new_tracks"]) == (5, 6)
    earlier = rows(connection, recap.discovery_counts(user, span(210, 190)))[0]
    assert (earlier["new_artists"], earlier["new_tracks"]) == (1, 1)  # a1/t1, 200 days ago


def test_busiest_day_longest_streak_albums_and_years(marts: tuple[psycopg.Connection[Any], UUID]) -> None:
    connection, user = marts
    year = span(364)
    busiest = rows(connection, recap.busiest_day(user, year))[0]
    assert (busiest["local_date"], busiest["plays"]) == (TODAY - timedelta(days=30), 19)  # 15 extra, t0, t1, t4, t5
    streak = rows(connection, recap.longest_streak(user, span(99, 50)))[0]
    assert (streak["start_date"], streak["end_date"], streak["days"]) == (
        TODAY - timedelta(days=99),
        TODAY - timedelta(days=50),
        50,
    )
    albums = rows(connection, recap.top_albums(user, span(60), 10, all_time=False))
    t4 = next(row for row in albums if row["album"] == "Album t4")
    assert (t4["tracks"], t4["plays"], t4["artist_name"]) == (2, 42, "Artist 4")  # t4 and t5, 21 days each
    years = rows(connection, recap.active_years(user))
    assert [row["year"] for row in years] == [2026, 2025]


def test_one_artist(marts: tuple[psycopg.Connection[Any], UUID]) -> None:
    connection, user = marts
    last_30 = span(29)
    profile = rows(connection, artists.profile(user, "a4", last_30))[0]
    assert (profile["name"], profile["plays"], profile["tracks"], profile["days"]) == ("Artist 4", 20, 2, 10)
    assert (profile["first_date"], profile["last_date"], profile["first_track"]) == (
        TODAY - timedelta(days=60),
        TODAY,
        "Song 4",
    )
    ranked = rows(connection, artists.rank(user, "a4", last_30, all_time=False))[0]
    assert (ranked["rank"], ranked["artists"]) == (4, 5)  # a0 30+, a1 30, a2 21, a4 20, a3 1
    assert rows(connection, artists.rank(user, "a3", span(3), all_time=False))[0]["rank"] is None
    found = rows(connection, artists.search(user, "artist 4", span(399), 10, all_time=False))
    assert [row["artist_id"] for row in found] == ["a4"]
    every = rows(connection, artists.search(user, "", span(399), 10, all_time=False))
    assert [row["artist_id"] for row in every] == ["a0", "a1", "a4", "a2", "a3"]
    monthly = rows(connection, artists.plays_over_time(user, "a4", span(89), Grain.month))
    assert sum(row["plays"] for row in monthly) == 42 and sum(row["days"] for row in monthly) == 90
    top = rows(connection, artists.top_tracks(user, "a4", last_30, 5))
    assert [(row["track_id"], row["plays"]) for row in top] == [("t4", 10), ("t5", 10)]


def test_whole_years_from_the_yearly_mart_give_the_per_day_answers(database_url: str) -> None:
    """Totals of windows holding whole calendar years, read from agg_yearly_track_plays plus the remaining days,
    equal those of the per-day rows: top lists, albums, unique counts, per-artist totals. The history adds a track
    whose primary artist changes within a year and one with only a skip in the year after its plays (a row
    without a play in the yearly mart, whose listening time still counts)."""
    create_marts(database_url)
    user = add_user(database_url, "Europe/Berlin", "years")
    extra = [Listen(at(TODAY - timedelta(days=ago), 7), "t1", "a5") for ago in (10, 250, 330)]
    extra += [Listen(at(date(2025, 12, 20), 6), "t6", "a5"), Listen(at(date(2025, 12, 21), 6), "t6", "a5")]
    extra += [Listen(at(date(2026, 2, 2), 6), "t6", "a5", ms_played=4_000)]
    load_listens(database_url, user, "Europe/Berlin", history() + extra, NAMES)
    windows = [
        (date(2026, 1, 1), TODAY),  # this year so far: the whole year 2026
        (TODAY - timedelta(days=364), TODAY),  # 365 days: 2026 and the end of 2025
        (date(2025, 10, 1), TODAY),  # all the history: 2026 and the end of 2025
        (date(2025, 12, 1), date(2026, 10, 31)),  # no whole year
    ]
    with psycopg.connect(libpq_url(database_url), autocommit=True, row_factory=dict_row) as connection:
        connection.execute("UPDATE marts.dim_tracks SET album_name = 'Album ' || track_id")
        read_years = 0
        for start, end in windows:
            window = make_span("w", start, end, ZONE, TODAY)
            years = rankings.whole_years(window, TODAY)
            read_years += years is not None
            for limit in (3, 20):
                by_years = rankings.window_summary(user, window, limit, all_time=False, albums=True, years=years)
                by_days = rankings.window_summary(user, window, limit, all_time=False, albums=True)
                assert rows(connection, by_years) == rows(connection, by_days), (start, end, limit)
            order = " ORDER BY artist_id"
            artists_by_years = Query(
                rankings.artist_totals(False, years) + order, rankings.window_params(user, window, years)
            )
            artists_by_days = Query(rankings.artist_totals(False) + order, rankings.window_params(user, window))
            found = rows(connection, artists_by_years)
            assert found == rows(connection, artists_by_days) and found, (start, end)
        assert read_years == 3


def test_the_recap_mart_answers_whole_years_and_all_time_as_the_per_track_rows(
    marts: tuple[psycopg.Connection[Any], UUID],
) -> None:
    """agg_yearly_recap (built by the transform; here by the model's own SQL after the albums are named) gives
    `window_summary`'s row for a calendar year, this year so far and all time, for any limit it keeps; other
    windows and larger limits are not read from it."""
    connection, user = marts
    connection.execute(story_marts_sql())
    bounds = connection.execute(
        "SELECT min(local_date) AS first, max(local_date) AS last FROM marts.agg_daily_listening WHERE user_id = %s",
        (user,),
    ).fetchone()
    assert bounds is not None and bounds["last"] == TODAY
    windows = [
        (make_span("2025", date(2025, 1, 1), date(2025, 12, 31), ZONE, TODAY), False),
        (make_span("this_year", date(2026, 1, 1), TODAY, ZONE, TODAY), False),
        (make_span("all_time", bounds["first"], TODAY, ZONE, TODAY), True),
    ]
    for window, all_time in windows:
        years = None if all_time else rankings.whole_years(window, TODAY)
        for limit in (1, 3, 20):
            stored = recap.stored_summary(user, limit, all_time=all_time, years=years)
            assert stored is not None
            summed = rankings.window_summary(user, window, limit, all_time=all_time, albums=True, years=years)
            found = rows(connection, stored)
            assert found == rows(connection, summed) and found[0]["top_albums"], (window.label, limit)
            if all_time:  # and the same as the per-day rows
                by_days = rankings.window_summary(user, window, limit, all_time=False, albums=True)
                assert found == rows(connection, by_days)
    month = span(30)
    assert recap.stored_summary(user, 3, all_time=False, years=rankings.whole_years(month, TODAY)) is None
    assert recap.stored_summary(user, recap.STORED_TOP_ITEMS + 1, all_time=True, years=None) is None
