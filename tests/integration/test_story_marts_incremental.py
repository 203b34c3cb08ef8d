"""The story marts (issue 18) are incremental (issue 22): a routine transform recomputes only the users (and, for
the monthly marts, the months) its changed plays touch, and gives exactly what a full refresh gives."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from tests.fixtures.marts import STORY_MODELS
from tests.integration.warehouse_history import (
    Listen,
    Song,
    api_play,
    at,
    create_users,
    differences,
    extended_record,
    import_zip,
    land_api_plays,
    marts,
    rows,
    transform,
)

GROWING = uuid.UUID("00000000-0000-0000-0000-00000000d1a1")
UNTOUCHED = uuid.UUID("00000000-0000-0000-0000-00000000d1b2")
OLD_SONGS = [
    Song("4uLU6hMCjMI75M1A2tKUQC", "Blue Monday", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Power"),
    Song("2takcwOaAZWiXQijPHIx7B", "Time", "4tZwfgrHOc3mvqYlEYSvVi", "Pink Floyd", "Dark Side"),
]
# The other user's songs: a polled track's metadata lands again, and every export listen of it is recomputed.
OTHER_SONGS = [
    Song("0VjIjW4GlUZAMYd2vXMi3b", "Blinding Lights", "1Xyo4u8uXC1ZmMpatF05PJ", "The Weeknd", "After Hours"),
    Song("7ouMYWpwJ422jRcDASZB7P", "Café del Mar", "3ETLPQkcEd7z4k3IbZmXMq", "Energy 52", "Café"),
]
NEW_SONG = Song("3n3Ppam7vgaVa1iaRUc9Lp", "Mr. Brightside", "0C0XlULifJtAgn6ZNCW2eu", "The Killers", "Hot Fuss")


def _story(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    return {name: found for name, found in marts(database_url).items() if name in STORY_MODELS}


def _built_at(database_url: str, user_id: uuid.UUID) -> dict[str, list[tuple[object, ...]]]:
    """When each story row of `user_id` was built (its transformed_at), per mart."""
    return {
        name: rows(
            database_url,
            f"select transformed_at from marts.{name} where user_id = %(u)s order by 1",
            {"u": user_id},
        )
        for name in STORY_MODELS
    }


def _january_built(database_url: str) -> list[tuple[object, ...]]:
    """When the growing user's January rows of the monthly track mart and of the sessions were built."""
    return rows(
        database_url,
        "select transformed_at from marts.agg_monthly_track_plays where user_id = %(u)s "
        "and month_start = '2026-01-01' union all select transformed_at from marts.fct_listening_sessions "
        "where user_id = %(u)s and started_at < '2026-02-01' order by 1",
        {"u": GROWING},
    )


async def test_a_poll_recomputes_its_user_and_months_only_and_equals_a_full_refresh(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {GROWING: "Europe/Berlin", UNTOUCHED: "UTC"})
    # Three days in a row in January and two in February for each user, from an export.
    days = [at("2026-01-10 18:00:00") + timedelta(days=n) for n in range(3)]
    days += [at("2026-02-20 18:00:00") + timedelta(days=n) for n in range(2)]
    for user_id in (GROWING, UNTOUCHED):
        listens = [
            Listen(user_id, day + timedelta(minutes=5 * index), song, 200_000)
            for day in days
            for index, song in enumerate(OLD_SONGS if user_id == GROWING else OTHER_SONGS)
        ]
        assert await import_zip(
            engine, settings, user_id, tmp_path / str(user_id), extended_records=[extended_record(x) for x in listens]
        )
    await transform(database_url, full_refresh=True)
    before = _story(database_url)
    untouched_built = _built_at(database_url, UNTOUCHED)
    january_built = _january_built(database_url)
    assert len(january_built) == 2 + 3  # two tracks, three days' sessions

    # A poll for one user: the next day in February (the streak goes on to 3 days), twice a song never heard
    # before (a new first play; a song heard before would land its metadata again and recompute its January plays).
    next_day = at("2026-02-22 18:00:00")
    polled = [
        Listen(GROWING, next_day, NEW_SONG, 200_000),
        Listen(GROWING, next_day + timedelta(minutes=5), NEW_SONG, 200_000),
    ]
    await land_api_plays(engine, GROWING, [api_play(listen) for listen in polled])
    await transform(database_url)
    incremental = marts(database_url)

    assert {name: incremental[name] for name in STORY_MODELS} != before
    firsts = rows(
        database_url,
        "select first_date, plays, first_week_plays from marts.agg_first_plays where user_id = %(u)s "
        "and subject_kind = 'track' and subject_id = %(t)s",
        {"u": GROWING, "t": NEW_SONG.track_id},
    )
    assert [(str(first), plays, week) for first, plays, week in firsts] == [("2026-02-22", 2, 2)]
    streak = rows(
        database_url,
        "select start_date::text, days from marts.fct_listening_streaks where user_id = %(u)s "
        "and subject_kind = 'all' order by start_date",
        {"u": GROWING},
    )
    assert streak == [("2026-01-10", 3), ("2026-02-20", 3)]
    # Only what the poll touched was rebuilt: the other user's rows, the earlier month and the sessions more than a
    # day before the poll stay as they were.
    assert _built_at(database_url, UNTOUCHED) == untouched_built
    assert _january_built(database_url) == january_built

    await transform(database_url, full_refresh=True)
    assert differences(incremental, marts(database_url)) == {}
