"""agg_first_plays is incremental per (user, subject) (issue 22): a poll recomputes the tracks and artists with a
listen on the days it changed — before or after the change — and leaves the user's other subjects as stored, and
the mart equals a full refresh."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
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

USER = uuid.UUID("00000000-0000-0000-0000-00000000f1a1")
# Heard in January only: a February poll must not touch it (nor its artist).
JANUARY = Song("4uLU6hMCjMI75M1A2tKUQC", "Blue Monday", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Power")
# Heard in January and February, and polled again: the poll lands its API metadata (its artist id), so its
# export listens are recomputed too (January 19–21, days apart from JANUARY's).
AGAIN = Song("2takcwOaAZWiXQijPHIx7B", "Time", "4tZwfgrHOc3mvqYlEYSvVi", "Pink Floyd", "Dark Side")
# Only skipped in February, the day before the poll: its listen span reaches the changed days.
SKIPPED = Song("0VjIjW4GlUZAMYd2vXMi3b", "Blinding Lights", "1Xyo4u8uXC1ZmMpatF05PJ", "The Weeknd", "After Hours")
NEW = Song("3n3Ppam7vgaVa1iaRUc9Lp", "Mr. Brightside", "0C0XlULifJtAgn6ZNCW2eu", "The Killers", "Hot Fuss")


def _first_plays(database_url: str) -> dict[tuple[str, str], tuple[object, ...]]:
    """Per subject: its dates and counts, and last the transaction that wrote the row (a recomputed row is new)."""
    found = rows(
        database_url,
        "select subject_kind, subject_id, artist_id, first_date::text, last_date::text, plays, days_played, "
        "first_listen_date::text, last_listen_date::text, xmin::text from marts.agg_first_plays "
        "where user_id = %(u)s",
        {"u": USER},
    )
    return {(kind, subject): tuple(rest) for kind, subject, *rest in found}


def _artist(first_plays: dict[tuple[str, str], tuple[object, ...]], song: Song) -> tuple[str, str]:
    """The artist subject of an exported song (its id is whatever the warehouse resolved the name to)."""
    return ("artist", str(first_plays[("track", song.track_id)][0]))


async def test_a_poll_recomputes_only_the_subjects_of_its_days_and_equals_a_full_refresh(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {USER: "UTC"})
    listens = [
        Listen(USER, at("2026-01-10 18:00:00"), JANUARY, 200_000),
        Listen(USER, at("2026-01-11 18:00:00"), JANUARY, 200_000),
        Listen(USER, at("2026-01-20 18:10:00"), AGAIN, 200_000),
        Listen(USER, at("2026-01-12 18:10:00"), SKIPPED, 200_000),
        Listen(USER, at("2026-02-20 18:10:00"), AGAIN, 200_000),
        Listen(USER, at("2026-02-21 18:10:00"), SKIPPED, 5_000),  # a skip: a listen, not a play
    ]
    assert await import_zip(
        engine, settings, USER, tmp_path / "export", extended_records=[extended_record(x) for x in listens]
    )
    await transform(database_url, full_refresh=True)
    before = _first_plays(database_url)
    assert before[("track", SKIPPED.track_id)][1:3] == ("2026-01-12", "2026-01-12")  # days with a play
    assert before[("track", SKIPPED.track_id)][5:7] == ("2026-01-12", "2026-02-21")  # days with a listen

    polled = [
        Listen(USER, at("2026-02-22 18:00:00"), AGAIN, 200_000),
        Listen(USER, at("2026-02-22 18:10:00"), NEW, 200_000),
    ]
    await land_api_plays(engine, USER, [api_play(listen) for listen in polled])
    await transform(database_url)
    after = _first_plays(database_url)

    # Recomputed: the subjects with a listen on the changed days (Feb 21–23), old and new.
    assert after[("track", AGAIN.track_id)][1:5] == ("2026-01-20", "2026-02-22", 3, 3)
    assert after[("track", NEW.track_id)][1:5] == ("2026-02-22", "2026-02-22", 1, 1)
    for subject in (("track", AGAIN.track_id), ("track", SKIPPED.track_id), _artist(before, SKIPPED)):
        assert after[subject][-1] != before[subject][-1], subject
    # Left as stored: the subjects heard in January only.
    for subject in (("track", JANUARY.track_id), _artist(before, JANUARY)):
        assert after[subject] == before[subject], subject

    incremental = marts(database_url)
    await transform(database_url, full_refresh=True)
    assert differences(incremental, marts(database_url)) == {}
