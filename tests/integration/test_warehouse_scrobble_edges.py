"""Scrobbles in the warehouse, two edges of rules 4 and 5 (issue 21 (c), (d)): equally near candidates are decided by
start time and content, never by the order the scrobbles were imported in; and a track's catalogue length landing
after its API plays reaches the plays it changes in the next incremental run (that run equals a full rebuild).
Real imports (the import job), real dbt, real PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
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
    import_scrobbles,
    land_api_plays,
    land_in_catalogue,
    lastfm_scrobble,
    listenbrainz_listen,
    marts,
    rows,
    transform,
)

ZONE = "Europe/Berlin"
EARLY_FIRST = uuid.UUID("00000000-0000-0000-0000-00000000051a")  # imports the earlier Last.fm scrobbles first
LATE_FIRST = uuid.UUID("00000000-0000-0000-0000-00000000051b")  # the later ones first
LENGTH_LATE = uuid.UUID("00000000-0000-0000-0000-00000000051c")

BLUE_MONDAY = Song("4uLU6hMCjMI75M1A2tKUQC", "Blue Monday", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Power", 449_000)
CEREMONY = Song("1301WleyT98MSxVHPZCA6M", "Ceremony", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Singles", 264_000)
# Two Spotify tracks under one artist and title (an album version and a compilation's): a scrobble of that name
# resolves to neither, so it pairs with Spotify's listens by name.
TWIN_ALBUM = Song("2KH16WveTQWT6KOG9Rg6e2", "Eye of the Tiger", "26bcq2nyj5GB7uRr558iQg", "Survivor", "Eye", 245_000)
TWIN_SINGLE = Song("7Ex8H6jNHXhRshbWSzAeQA", "Eye of the Tiger", "26bcq2nyj5GB7uRr558iQg", "Survivor", "Hits", 400_000)

PLAYS_SQL = (
    "select played_at, track_id, ms_played, source, scrobble_sources from marts.fct_plays "
    "where user_id = %(u)s order by played_at"
)


async def test_equally_near_scrobbles_pair_by_start_time_not_by_import_order(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """Two Last.fm scrobbles of one track start 10 s before and 10 s after a ListenBrainz listen of it (rule 4), and
    two more 10 s before and after an API play's start (rule 5): each pair is equally near. The earlier scrobble is
    the one merged, whichever of the two was imported first; the later one is a play of its own."""
    create_users(database_url, {EARLY_FIRST: ZONE, LATE_FIRST: ZONE})
    await land_in_catalogue(engine, [BLUE_MONDAY, CEREMONY])
    for user_id in (EARLY_FIRST, LATE_FIRST):
        both_services = Listen(user_id, at("2026-03-02 10:00:00"), BLUE_MONDAY, BLUE_MONDAY.duration_ms)
        polled = Listen(user_id, at("2026-03-03 18:00:00"), CEREMONY, CEREMONY.duration_ms)
        early = [lastfm_scrobble(both_services, -10), lastfm_scrobble(polled, -10)]
        late = [lastfm_scrobble(both_services, 10), lastfm_scrobble(polled, 10)]
        await land_api_plays(engine, user_id, [api_play(polled)])
        assert await import_scrobbles(
            engine, settings, user_id, tmp_path / f"{user_id}-lb", listenbrainz=[listenbrainz_listen(both_services)]
        ) == ["success"]
        # Separate imports, so the raw ids (import order) of the two Last.fm scrobbles differ between the users.
        for number, scrobbles in enumerate([early, late] if user_id == EARLY_FIRST else [late, early]):
            assert await import_scrobbles(
                engine, settings, user_id, tmp_path / f"{user_id}-fm{number}", lastfm=scrobbles
            ) == ["success"]
    await transform(database_url, full_refresh=True)

    early_first = rows(database_url, PLAYS_SQL, {"u": EARLY_FIRST})
    late_first = rows(database_url, PLAYS_SQL, {"u": LATE_FIRST})
    assert early_first == late_first
    rule_4_start = at("2026-03-02 10:00:00") - timedelta(milliseconds=BLUE_MONDAY.duration_ms)
    rule_5_start = at("2026-03-03 18:00:00") - timedelta(milliseconds=CEREMONY.duration_ms)
    assert [row[3:] for row in early_first] == [
        ("listenbrainz", "lastfm,listenbrainz"),
        ("lastfm", "lastfm"),
        ("spotify_api", "lastfm"),
        ("lastfm", "lastfm"),
    ]
    # The scrobbles left alone are the later ones (their end: start + the catalogue's length).
    assert early_first[1][0] == rule_4_start + timedelta(seconds=10, milliseconds=BLUE_MONDAY.duration_ms)
    assert early_first[3][0] == rule_5_start + timedelta(seconds=10, milliseconds=CEREMONY.duration_ms)


async def test_a_track_length_landing_after_its_api_plays_reaches_them_in_the_next_incremental_run(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """An API play whose track came without a length, and a Last.fm scrobble of it by name that started 400 s
    before its end. Without the length, rule 5 takes the scrobble's estimate (3.5 min): too short to reach the API
    play, two plays. When the catalogue's length (400 s) lands, the next incremental run makes them one listen, as
    a full rebuild does."""
    create_users(database_url, {LENGTH_LATE: ZONE})
    await land_in_catalogue(engine, [TWIN_ALBUM])
    listen = Listen(LENGTH_LATE, at("2026-03-04 21:00:00"), TWIN_SINGLE, TWIN_SINGLE.duration_ms)
    play = api_play(listen)
    assert play.track is not None
    await land_api_plays(
        engine, LENGTH_LATE, [play.model_copy(update={"track": play.track.model_copy(update={"duration_ms": None})})]
    )
    statuses = await import_scrobbles(engine, settings, LENGTH_LATE, tmp_path / "fm", lastfm=[lastfm_scrobble(listen)])
    assert statuses == ["success"]
    await transform(database_url, full_refresh=True)
    before = rows(database_url, PLAYS_SQL, {"u": LENGTH_LATE})
    assert [row[3:] for row in before] == [("lastfm", "lastfm"), ("spotify_api", None)]

    await land_in_catalogue(engine, [TWIN_SINGLE])  # the enrichment fetched the track: its length lands
    await transform(database_url)
    incremental = marts(database_url)
    after = rows(database_url, PLAYS_SQL, {"u": LENGTH_LATE})
    assert [row[1:] for row in after] == [(TWIN_SINGLE.track_id, None, "spotify_api", "lastfm")]
    await transform(database_url, full_refresh=True)
    assert differences(marts(database_url), incremental) == {}
