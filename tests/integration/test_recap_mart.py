"""history.recap reads a calendar year's and all time's ranked figures from the transform's agg_yearly_recap
(issue 18: one indexed row instead of ~35,000 per-track rows a year at 1M plays). On a dbt-built warehouse — an
export, API plays (albums with ids) and a ListenBrainz user, then a time zone change that moves a listen from one
year to the other — every recap answer equals the answer summed from the per-track rows (the mart's rows taken
away), for whole years, this year so far, all time, a month and a custom range; and the incremental mart equals a
full refresh."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.settings import Settings
from serve.tools.recap import RecapArgs, recap
from serve.tools.registry import Principal, ToolContext
from tests.integration.warehouse_history import (
    Listen,
    Song,
    api_play,
    create_users,
    differences,
    execute,
    extended_record,
    import_scrobbles,
    import_zip,
    land_api_plays,
    listenbrainz_listen,
    marts,
    rows,
    transform,
)

LISTENER = uuid.UUID("00000000-0000-0000-0000-0000000000e1")
SCROBBLER = uuid.UUID("00000000-0000-0000-0000-0000000000e2")
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
SONGS = [
    Song("4uLU6hMCjMI75M1A2tKUQC", "Blue Monday", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Power"),
    Song("1301WleyT98MSxVHPZCA6M", "Ceremony", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Power"),
    Song("2takcwOaAZWiXQijPHIx7B", "Time", "4tZwfgrHOc3mvqYlEYSvVi", "Pink Floyd", "Dark Side"),
    Song("0VjIjW4GlUZAMYd2vXMi3b", "Blinding Lights", "1Xyo4u8uXC1ZmMpatF05PJ", "The Weeknd", "After Hours"),
    Song("7ouMYWpwJ422jRcDASZB7P", "Café del Mar", "3ETLPQkcEd7z4k3IbZmXMq", "Energy 52", "Café"),
    Song("3n3Ppam7vgaVa1iaRUc9Lp", "Mr. Brightside", "0C0XlULifJtAgn6ZNCW2eu", "The Killers", "Hot Fuss"),
]
WINDOWS: list[dict[str, Any]] = [
    {"year": 2025},
    {"year": 2025, "limit": 20},
    {"year": 2026},  # this year so far: the whole year's row (no data after today)
    {"period": "all_time", "limit": 3},
    {"year": 2026, "month": 1},
    {"start": "2025-11-15", "end": "2026-02-10"},
]


def _listens(user_id: uuid.UUID, start: datetime, days: int) -> list[Listen]:
    """Every third day a few songs (which ones and how many varies), each play 200 s; a skip now and then."""
    listens = []
    for day in range(0, days, 3):
        ended = start + timedelta(days=day)
        for index in range(1 + day % 4):
            song = SONGS[(day * 7 + index * 5) % len(SONGS)]
            ms = 10_000 if (day + index) % 11 == 0 else 200_000
            listens.append(Listen(user_id, ended + timedelta(minutes=5 * index), song, ms))
    return listens


async def _answers(engine: AsyncEngine, settings: Settings, user_id: uuid.UUID) -> list[dict[str, Any]]:
    found = []
    async with AsyncSession(engine) as session:
        context = ToolContext(session, Principal.admin(), settings, now=NOW)
        for window in WINDOWS:
            answer = await recap(context, RecapArgs.model_validate(window), user_id)
            found.append(answer.model_dump(mode="json"))
    return found


async def _same_as_from_per_track_rows(engine: AsyncEngine, settings: Settings, database_url: str) -> None:
    for user_id in (LISTENER, SCROBBLER):
        stored = await _answers(engine, settings, user_id)
        # A year, this year and all time of each user come from the mart.
        assert rows(database_url, "select count(*) from marts.agg_yearly_recap where user_id = %(u)s", {"u": user_id})
        assert [row[0] for row in rows(
            database_url,
            "select extract(year from year_start)::int from marts.agg_yearly_recap where user_id = %(u)s "
            "order by year_start nulls last",
            {"u": user_id},
        )] == [2025, 2026, None]  # fmt: skip
        assert any(answer["top_albums"] for answer in stored) and all(answer["plays"] for answer in stored)
        execute(database_url, "create table marts.recap_aside as select * from marts.agg_yearly_recap")
        execute(database_url, "delete from marts.agg_yearly_recap")
        try:
            summed = await _answers(engine, settings, user_id)
        finally:
            execute(database_url, "insert into marts.agg_yearly_recap select * from marts.recap_aside")
            execute(database_url, "drop table marts.recap_aside")
        assert stored == summed


async def test_recap_from_the_mart_equals_the_recap_from_per_track_rows(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {LISTENER: "Europe/Berlin", SCROBBLER: "UTC"})
    # A listen at 23:30 UTC on 31 December: 2026 in Berlin, 2025 in Los Angeles.
    start = datetime(2025, 3, 3, 23, 30, tzinfo=UTC)
    exported = _listens(LISTENER, start, 305)
    assert any(listen.ended == datetime(2025, 12, 31, 23, 30, tzinfo=UTC) for listen in exported)
    assert await import_zip(engine, settings, LISTENER, tmp_path / "e1", extended_records=[
        extended_record(listen) for listen in exported
    ]) == "success"  # fmt: skip
    polled = _listens(LISTENER, datetime(2026, 1, 4, 18, 0, tzinfo=UTC), 150)
    await land_api_plays(engine, LISTENER, [api_play(listen) for listen in polled])
    scrobbled = _listens(SCROBBLER, datetime(2025, 6, 1, 12, 0, tzinfo=UTC), 360)
    assert await import_scrobbles(
        engine, settings, SCROBBLER, tmp_path / "e2", listenbrainz=[listenbrainz_listen(x) for x in scrobbled]
    ) == ["success"]
    await transform(database_url, full_refresh=True)
    await _same_as_from_per_track_rows(engine, settings, database_url)

    # The listener moves to Los Angeles: every listen of theirs gets new local days (one changes year).
    execute(database_url, "update app.users set timezone = 'America/Los_Angeles' where id = %(u)s", {"u": LISTENER})
    await transform(database_url)
    await _same_as_from_per_track_rows(engine, settings, database_url)
    incremental = marts(database_url)
    await transform(database_url, full_refresh=True)
    assert differences(incremental, marts(database_url)) == {}
