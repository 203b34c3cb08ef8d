"""The story tools (issue 18) on a real PostgreSQL with a small history whose figures are known by hand, seen on
5 November 2026, 21:30 in Berlin:

- artist A ("Phoebe Bridgers", track a1): once on 10 March 2024, then twice a day (08:00, 08:04) 1-10 Oct 2026;
- artist B (b1): once on 5 Nov 2024, three times on 5 Nov 2025 (19:00, 19:04, 19:08);
- artist C (c1, new this month): three plays on 1 and on 2 Nov 2026 (20:00, 20:04, 20:08), a 10-second skip on
  3 Nov, one play on 4 Nov (21:00) and one today (09:00).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.dburl import libpq_url
from core.settings import Settings
from serve.tools.catalog import REGISTRY
from serve.tools.errors import InvalidArguments
from serve.tools.registry import Principal, ToolContext
from tests.fixtures.marts import Listen, add_user, create_marts, load_listens, record_transform

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 5, 21, 30, tzinfo=BERLIN)
NAMES = {
    "artA": "Phoebe Bridgers", "a1": "Motion Sickness",
    "artB": "Boygenius", "b1": "Not Strong Enough",
    "artC": "Clairo", "c1": "Sofia",
}  # fmt: skip


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def story() -> list[Listen]:
    listens = [Listen(_at(date(2024, 3, 10), 20, 0), "a1", "artA")]
    for offset in range(10):
        day = date(2026, 10, 1) + timedelta(days=offset)
        listens += [Listen(_at(day, 8, 0), "a1", "artA"), Listen(_at(day, 8, 4), "a1", "artA")]
    listens.append(Listen(_at(date(2024, 11, 5), 19, 0), "b1", "artB"))
    listens += [Listen(_at(date(2025, 11, 5), 19, minute), "b1", "artB") for minute in (0, 4, 8)]
    for day in (date(2026, 11, 1), date(2026, 11, 2)):
        listens += [Listen(_at(day, 20, minute), "c1", "artC") for minute in (0, 4, 8)]
    listens.append(Listen(_at(date(2026, 11, 3), 20, 0), "c1", "artC", ms_played=10_000))
    listens.append(Listen(_at(date(2026, 11, 4), 21, 0), "c1", "artC"))
    listens.append(Listen(_at(date(2026, 11, 5), 9, 0), "c1", "artC"))
    return listens


@pytest.fixture
def user(database_url: str) -> UUID:
    user_id = add_user(database_url, "Europe/Berlin")
    create_marts(database_url)
    load_listens(database_url, user_id, "Europe/Berlin", story(), NAMES)
    record_transform(database_url, NOW - timedelta(minutes=5))
    return user_id


async def call(engine: AsyncEngine, settings: Settings, tool: str, **args: Any) -> dict[str, Any]:
    async with AsyncSession(engine) as session:
        context = ToolContext(session, Principal.admin(), settings, now=NOW)
        answer = await REGISTRY.call(tool, args, context)
    found: dict[str, Any] = answer.model_dump(mode="json")
    return found


async def test_plays_newest_first_in_pages_that_join_up(engine: AsyncEngine, settings: Settings, user: UUID) -> None:
    first = await call(engine, settings, "history.plays", period="this_month", limit=3)
    assert [play["local_time"] for play in first["plays"]] == [
        "2026-11-05 09:00",
        "2026-11-04 21:00",
        "2026-11-02 20:08",
    ]
    assert first["total"] == 8 and first["plays"][0]["track_name"] == "Sofia"
    second = await call(engine, settings, "history.plays", period="this_month", limit=3, cursor=first["next_cursor"])
    assert [play["local_time"] for play in second["plays"]] == [
        "2026-11-02 20:04", "2026-11-02 20:00", "2026-11-01 20:08",
    ]  # fmt: skip
    # Walking every page of 2 gives exactly the one page of 200, in both orders.
    for order in ("newest", "oldest"):
        whole = await call(engine, settings, "history.plays", period="all_time", order=order, limit=200)
        walked: list[str] = []
        cursor: str | None = None
        while True:
            page = await call(engine, settings, "history.plays", period="all_time", order=order, limit=2,
                              **({"cursor": cursor} if cursor else {}))  # fmt: skip
            walked += [play["played_at"] for play in page["plays"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert walked == [play["played_at"] for play in whole["plays"]]
        assert len(walked) == 8 + 21 + 4 == whole["total"]


async def test_plays_filters_by_artist_name_hours_and_skips(
    engine: AsyncEngine, settings: Settings, user: UUID
) -> None:
    phoebe = await call(engine, settings, "history.plays", artist="phoebe", period="all_time", order="oldest")
    assert phoebe["matched"][0]["name"] == "Phoebe Bridgers" and phoebe["total"] == 21
    assert phoebe["plays"][0]["local_time"] == "2024-03-10 20:00"
    morning = await call(engine, settings, "history.plays", period="this_month", from_hour=5, to_hour=12)
    assert [play["local_time"] for play in morning["plays"]] == ["2026-11-05 09:00"]
    with_skips = await call(engine, settings, "history.plays", start="2026-11-03", end="2026-11-03", include_skips=True)
    assert [(play["ms_played"], play["counts_as_play"]) for play in with_skips["plays"]] == [(10_000, False)]
    assert with_skips["total"] == 1
    with pytest.raises(InvalidArguments, match="artist"):
        await call(engine, settings, "history.plays", artist="Taylor Swift")
    with pytest.raises(InvalidArguments, match="cursor"):
        await call(engine, settings, "history.plays", cursor="not-a-cursor")


async def test_artist_history_first_play_months_ranks_and_eras(
    engine: AsyncEngine, settings: Settings, user: UUID
) -> None:
    answer = await call(engine, settings, "history.artist_history", artist="Phoebe Bridgers")
    assert answer["subject"]["id"] == "artA" and answer["window"]["label"] == "all_time"
    assert answer["first_play"]["local_time"] == "2024-03-10 20:00" and answer["first_play"]["track_name"] == (
        "Motion Sickness"
    )
    assert answer["last_play"]["local_time"] == "2026-10-10 08:04"
    assert answer["plays"] == 21 and answer["days_played"] == 11 and answer["first_week_plays"] == 1
    assert [(m["month"], m["plays"], m["rank"], m["of"]) for m in answer["months"]] == [
        ("2024-03", 1, 1, 1), ("2026-10", 20, 1, 1),
    ]  # fmt: skip
    assert [(era["start_month"], era["end_month"], era["months"]) for era in answer["eras"]] == [
        ("2024-03", "2024-03", 1), ("2026-10", "2026-10", 1),
    ]  # fmt: skip
    assert answer["peak_month"]["month"] == "2026-10"
    assert [(track["name"], track["plays"]) for track in answer["top_tracks"]] == [("Motion Sickness", 21)]
    track = await call(engine, settings, "history.track_history", track="sofia", start="2026-11-01", end="2026-11-05")
    assert track["subject"]["artist_name"] == "Clairo" and track["plays"] == 8 and track["first_week_plays"] == 8
    assert [(m["month"], m["plays"], m["rank"], m["of"]) for m in track["months"]] == [("2026-11", 8, 1, 1)]


async def test_subjects_without_a_dimension_row_are_found_by_the_names_on_their_plays(
    engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    """An artist missing from the dimension (a local artist of the fixtures) is still found by the name its plays
    carry; a track whose row was dropped (fct_plays' tested relationship rules it out), by its id, named from its
    plays (a title search reads the dimension's index only)."""
    user_id = add_user(database_url, "Europe/Berlin")
    create_marts(database_url)
    listens = [Listen(_at(date(2026, 11, 1), 20, minute), "local:t9", "local:a9") for minute in (0, 4)]
    listens.append(Listen(_at(date(2026, 11, 2), 20, 0), "c1", "artC"))
    load_listens(database_url, user_id, "Europe/Berlin", listens, {"local:t9": "Night Swim", "local:a9": "Local Hero"})
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("DELETE FROM marts.dim_tracks WHERE track_id = 'local:t9'")
    record_transform(database_url, NOW - timedelta(minutes=5))
    artist = await call(engine, settings, "history.artist_history", artist="local hero")
    assert (artist["subject"]["id"], artist["subject"]["name"], artist["plays"]) == ("local:a9", "Local Hero", 2)
    with pytest.raises(InvalidArguments):
        await call(engine, settings, "history.track_history", track="SWIM")
    track = await call(engine, settings, "history.track_history", track="local:t9")
    assert (track["subject"]["id"], track["subject"]["name"], track["subject"]["artist_name"]) == (
        "local:t9", "Night Swim", "Local Hero",
    )  # fmt: skip
    assert track["plays"] == 2 and track["subject"]["other_matches"] == []


async def test_recap_of_a_year_compares_the_same_days_of_the_year_before(
    engine: AsyncEngine, settings: Settings, user: UUID
) -> None:
    answer = await call(engine, settings, "history.recap", year=2026)
    assert (answer["window"]["start_date"], answer["window"]["end_date"]) == ("2026-01-01", "2026-11-05")
    assert answer["plays"] == 28 and answer["unique_artists"] == 2
    assert [(artist["name"], artist["plays"]) for artist in answer["top_artists"]] == [
        ("Phoebe Bridgers", 20), ("Clairo", 8),
    ]  # fmt: skip
    assert (answer["new_artists"], answer["new_tracks"]) == (1, 1)
    assert [artist["name"] for artist in answer["top_new_artists"]] == ["Clairo"]
    assert answer["busiest_day"] == {"date": "2026-11-01", "plays": 3, "listening_minutes": 10.0}
    assert answer["longest_streak"] == {"start_date": "2026-10-01", "end_date": "2026-10-10", "days": 10}
    assert answer["clock"]["peak_hour"] == 8 and sum(answer["clock"]["hour_plays"]) == 28
    previous = answer["previous"]
    assert (previous["window"]["start_date"], previous["window"]["end_date"]) == ("2025-01-01", "2025-11-05")
    assert previous["plays"] == 3 and previous["plays_change_pct"] == round((28 - 3) / 3 * 100, 1)
    whole = await call(engine, settings, "history.recap", year=2025)
    assert whole["plays"] == 3 and whole["previous"]["plays"] == 2  # 2025 whole, against 2024 whole


async def test_discoveries_love_at_first_sight_and_slow_burns(
    engine: AsyncEngine, settings: Settings, user: UUID
) -> None:
    answer = await call(engine, settings, "history.discoveries", period="last_30_days")
    assert (answer["new_artists"], answer["new_tracks"]) == (1, 1)
    assert [(item["name"], item["plays"], item["first_date"]) for item in answer["top_new_artists"]] == [
        ("Clairo", 8, "2026-11-01"),
    ]  # fmt: skip
    assert {(item["kind"], item["name"], item["first_week_plays"]) for item in answer["love_at_first_sight"]} == {
        ("artist", "Clairo", 8), ("track", "Sofia", 8),
    }  # fmt: skip
    # Phoebe Bridgers: first heard in March 2024, 8 plays in the window (1-10 October from 7 October).
    assert [(item["name"], item["plays"]) for item in answer["slow_burns"]] == [("Phoebe Bridgers", 8)]
    strict = await call(engine, settings, "history.discoveries", period="last_30_days", love_plays=9)
    assert strict["love_at_first_sight"] == []
    # A window that ends before the last day: new artists count only the window's own plays.
    early = await call(engine, settings, "history.discoveries", start="2026-11-01", end="2026-11-01")
    assert [(item["name"], item["plays"]) for item in early["top_new_artists"]] == [("Clairo", 3)]


async def test_on_this_day_in_earlier_years(engine: AsyncEngine, settings: Settings, user: UUID) -> None:
    answer = await call(engine, settings, "history.on_this_day")
    assert [(year["date"], year["years_ago"], year["plays"]) for year in answer["years"]] == [
        ("2025-11-05", 1, 3), ("2024-11-05", 2, 1),
    ]  # fmt: skip
    assert answer["years"][0]["top_tracks"][0]["name"] == "Not Strong Enough"
    march = await call(engine, settings, "history.on_this_day", date="2025-03-10")
    assert [(year["date"], year["plays"]) for year in march["years"]] == [("2024-03-10", 1)]


async def test_streaks_longest_current_and_on_repeat(engine: AsyncEngine, settings: Settings, user: UUID) -> None:
    answer = await call(engine, settings, "history.streaks")
    assert [(run["start_date"], run["days"]) for run in answer["longest"][:2]] == [
        ("2026-10-01", 10), ("2026-11-04", 2),
    ]  # fmt: skip
    assert answer["current"]["start_date"] == "2026-11-04" and answer["current"]["days"] == 2
    assert answer["current"]["current"] is True and answer["longest"][0]["current"] is False
    assert [(run["name"], run["days"]) for run in answer["longest_artists"]] == [
        ("Phoebe Bridgers", 10), ("Clairo", 2), ("Clairo", 2),
    ]  # fmt: skip
    assert [(run["name"], run["artist_name"], run["days"]) for run in answer["current_tracks"]] == [
        ("Sofia", "Clairo", 2),
    ]  # fmt: skip
    assert [(track["name"], track["plays"]) for track in answer["on_repeat"]] == [("Sofia", 8)]
    # In a window, runs are cut to it.
    october = await call(engine, settings, "history.streaks", start="2026-10-05", end="2026-10-31")
    assert (october["longest"][0]["start_date"], october["longest"][0]["days"]) == ("2026-10-05", 6)


async def test_sessions_longest_and_typical_length(engine: AsyncEngine, settings: Settings, user: UUID) -> None:
    answer = await call(engine, settings, "history.sessions")
    # 10 October mornings (2 plays each), two evenings of 3 plays, the skip, the 4th and today.
    assert answer["sessions"] == 15 and answer["gap_minutes"] == 30
    longest = answer["longest"][0]
    assert longest["local_start"] == "2026-11-02 19:56" and longest["minutes"] == 11.3 and longest["plays"] == 3
    thursday = next(item for item in answer["by_weekday"] if item["label"] == "Thursday")
    assert thursday["sessions"] == 3  # 1 Oct, 8 Oct and today (5 Nov)
    assert {item["key"]: item["sessions"] for item in answer["by_hour"]}[8] == 10  # hour of the first listen (08:00)
    # Another gap is computed from the plays: with 31 minutes these plays make the same sessions.
    live = await call(engine, settings, "history.sessions", gap_minutes=31)
    assert {key: live[key] for key in ("sessions", "median_minutes", "longest", "by_weekday", "by_hour")} == {
        key: answer[key] for key in ("sessions", "median_minutes", "longest", "by_weekday", "by_hour")
    }
    with pytest.raises(InvalidArguments, match="gap_minutes"):
        await call(engine, settings, "history.sessions", gap_minutes=60, period="all_time")
