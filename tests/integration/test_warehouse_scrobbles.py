"""Scrobbles in the warehouse (issue 21): ListenBrainz and Last.fm histories of the weeks a Spotify export also
covers count each listen once (the plays of the export alone), the scrobbles of listens Spotify never recorded
are plays landing on the local day and hour they ended, and re-importing changes nothing. Real imports (the
import job), real dbt, real PostgreSQL.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from tests.fixtures.exports import scrobbles as sx
from tests.integration.warehouse_history import (
    Listen,
    Song,
    api_play,
    at,
    create_users,
    differences,
    extended_record,
    import_scrobbles,
    import_zip,
    land_api_plays,
    land_in_catalogue,
    lastfm_scrobble,
    listenbrainz_listen,
    marts,
    rows,
    transform,
)

SOLO = uuid.UUID("00000000-0000-0000-0000-00000000050a")  # the Spotify export alone
MIXED = uuid.UUID("00000000-0000-0000-0000-00000000050b")  # the same export, ListenBrainz and Last.fm
ZONE = "Europe/Berlin"

SONGS = [
    Song("4uLU6hMCjMI75M1A2tKUQC", "Blue Monday", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Power", 449_000),
    Song("1301WleyT98MSxVHPZCA6M", "Ceremony", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Singles", 264_000),
    Song("3n3Ppam7vgaVa1iaRUc9Lp", "Mr. Brightside", "0C0XlULifJtAgn6ZNCW2eu", "The Killers", "Hot Fuss", 222_000),
]
UNKNOWN = Song("local", "A Song Nobody Knows", "local", "Nobody", "Nowhere")

PLAYS_SQL = (
    "select played_at, track_id, ms_played, source, primary_artist_id, local_date from marts.fct_plays "
    "where user_id = %(u)s order by played_at"
)


def _weeks(user_id: uuid.UUID) -> list[Listen]:
    """Two weeks of listens ending at whole seconds, never overlapping, some of them skips (< 30 s)."""
    rng = random.Random(21)
    listens: list[Listen] = []
    moment = at("2026-02-02 08:00:00")
    for _ in range(40):
        song = rng.choice(SONGS)
        ms = rng.choice([rng.randrange(5_000, 25_000), song.duration_ms, rng.randrange(60_000, song.duration_ms)])
        moment += timedelta(milliseconds=ms, minutes=rng.randrange(0, 600), seconds=rng.randrange(1, 60))
        moment = moment.replace(microsecond=0)
        listens.append(Listen(user_id, moment, song, ms))
    return listens


async def test_scrobbles_of_the_export_weeks_count_once_and_the_others_land_on_their_local_day(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {SOLO: ZONE, MIXED: ZONE})
    solo, mixed = _weeks(SOLO), _weeks(MIXED)
    # Scrobblers do not scrobble skips; people scrobble to both services, whose clocks differ by a second or two.
    scrobbled = [listen for listen in mixed if listen.ms_played >= 30_000]
    # Listens Spotify never recorded (before the export begins, or on another player).
    late_evening = Listen(MIXED, at("2026-01-31 23:03:00"), SONGS[2], SONGS[2].duration_ms)  # started 23:59:18 CET
    name_only = Listen(MIXED, at("2026-01-30 12:00:00"), SONGS[0], 200_000)  # Last.fm: names, no length
    unknown = Listen(MIXED, at("2026-01-29 12:00:00"), UNKNOWN, 100_000)

    assert await import_zip(
        engine, settings, SOLO, tmp_path / "solo", extended_records=[extended_record(listen) for listen in solo]
    )
    assert await import_zip(
        engine, settings, MIXED, tmp_path / "mixed", extended_records=[extended_record(listen) for listen in mixed]
    )
    listenbrainz = [listenbrainz_listen(listen) for listen in [*scrobbled, late_evening]]
    lastfm = [
        lastfm_scrobble(listen, random.Random(listen.ended.second).choice([-2, -1, 1, 2])) for listen in scrobbled
    ]
    lastfm += [lastfm_scrobble(name_only), lastfm_scrobble(unknown)]
    statuses = await import_scrobbles(
        engine, settings, MIXED, tmp_path / "scrobbles", listenbrainz=listenbrainz, lastfm=lastfm
    )
    assert statuses == ["success", "success"]
    await transform(database_url, full_refresh=True)

    # The export's weeks: exactly the plays of the export alone, each also named by both scrobble services.
    export_start = min(listen.ended for listen in mixed)
    solo_plays = [row[1:] for row in rows(database_url, PLAYS_SQL, {"u": SOLO})]
    mixed_plays = rows(database_url, PLAYS_SQL, {"u": MIXED})
    assert [row[1:] for row in mixed_plays if row[0] >= export_start] == solo_plays
    assert len(solo_plays) == len(solo)
    sources = rows(
        database_url,
        "select scrobble_sources, count(*) from marts.fct_plays where user_id = %(u)s and played_at >= %(s)s "
        "group by 1 order by 1",
        {"u": MIXED, "s": export_start},
    )
    assert sources == [("lastfm,listenbrainz", len(scrobbled)), (None, len(mixed) - len(scrobbled))]

    # The scrobbles alone are plays of their own, ending start + the track's length (estimated, and said so).
    alone = rows(
        database_url,
        "select played_at, track_id, primary_artist_id, ms_played, ms_played_estimated, source, local_date, "
        "local_hour from marts.fct_plays where user_id = %(u)s and played_at < %(s)s order by played_at",
        {"u": MIXED, "s": export_start},
    )
    unknown_start = unknown.ended - timedelta(milliseconds=unknown.ms_played)
    assert alone[0][0] == unknown_start + timedelta(milliseconds=210_000)  # scrobble_default_duration_ms
    assert alone[0][1].startswith("local:") and alone[0][2].startswith("local:")
    assert alone[0][3:6] == (210_000, True, "lastfm")
    # Last.fm knows only names: the export's URIs make it Blue Monday (its Spotify id), by the one New Order the
    # export's plays have (an export names no artist id, so a `local:` one, the same for every source).
    name_only_start = name_only.ended - timedelta(milliseconds=name_only.ms_played)
    export_artists = {row[3] for row in solo_plays if row[0] == SONGS[0].track_id} | {
        row[4] for row in mixed_plays if row[1] == SONGS[0].track_id and row[0] >= export_start
    }
    assert alone[1][1] == SONGS[0].track_id and {alone[1][2]} == export_artists
    assert alone[1][5] == "lastfm" and alone[1][4] is True
    # ListenBrainz gave the Spotify id and the length: started at 23:59:18 on Jan 31 in Berlin, ended on Feb 1.
    assert alone[2][0] == late_evening.ended
    assert alone[2][1] == SONGS[2].track_id
    assert alone[2][3:6] == (SONGS[2].duration_ms, True, "listenbrainz")
    assert alone[2][6:] == (date(2026, 2, 1), 0)
    assert name_only_start < alone[1][0] < late_evening.ended and len(alone) == 3

    coverage = rows(
        database_url,
        "select source, sum(listens)::int from marts.fct_coverage_daily where user_id = %(u)s group by 1 order by 1",
        {"u": MIXED},
    )
    assert coverage == [
        ("import_zip", len(mixed)),
        ("lastfm", len(scrobbled) + 2),
        ("listenbrainz", len(scrobbled) + 1),
    ]
    daily = rows(
        database_url,
        "select plays, ms_played from marts.agg_daily_listening where user_id = %(u)s and local_date = '2026-02-01'",
        {"u": MIXED},
    )
    assert daily == [(1, SONGS[2].duration_ms)]

    # Re-importing both scrobble files and an incremental transform change nothing; a full rebuild agrees.
    before = marts(database_url)
    statuses = await import_scrobbles(
        engine, settings, MIXED, tmp_path / "again", listenbrainz=listenbrainz, lastfm=lastfm
    )
    assert statuses == ["success", "success"]
    await transform(database_url)
    assert differences(marts(database_url), before) == {}
    await transform(database_url, full_refresh=True)
    assert differences(marts(database_url), before) == {}
    assert datetime.now(UTC) > export_start  # the fixture's weeks lie in the past (the listen contract)


LB_FIRST = uuid.UUID("00000000-0000-0000-0000-00000000050c")
FM_FIRST = uuid.UUID("00000000-0000-0000-0000-00000000050d")


async def test_the_order_of_the_listenbrainz_and_lastfm_imports_decides_nothing(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """ListenBrainz imported the person's Last.fm history: the same listens at the same second under the same names
    (ListenBrainz adds the Spotify id, the length and MusicBrainz ids). Imported ListenBrainz first or Last.fm first,
    the plays are the same: ListenBrainz's row kept, both services named."""
    create_users(database_url, {LB_FIRST: ZONE, FM_FIRST: ZONE})
    for user_id, lastfm_first in ((LB_FIRST, False), (FM_FIRST, True)):
        scrobbled = [listen for listen in _weeks(user_id) if listen.ms_played >= 30_000]
        only_lastfm = Listen(user_id, at("2026-01-29 12:00:00"), UNKNOWN, 100_000)
        statuses = await import_scrobbles(
            engine,
            settings,
            user_id,
            tmp_path / str(user_id),
            listenbrainz=[listenbrainz_listen(listen) for listen in scrobbled],
            lastfm=[lastfm_scrobble(listen) for listen in [*scrobbled, only_lastfm]],
            lastfm_first=lastfm_first,
        )
        assert statuses == ["success", "success"]
    await transform(database_url, full_refresh=True)

    plays_sql = (
        "select played_at, track_id, ms_played, ms_played_estimated, source, scrobble_sources, primary_artist_id, "
        "local_date from marts.fct_plays where user_id = %(u)s order by played_at"
    )
    lb_first, fm_first = rows(database_url, plays_sql, {"u": LB_FIRST}), rows(database_url, plays_sql, {"u": FM_FIRST})
    assert lb_first == fm_first
    assert Counter((row[4], row[5]) for row in lb_first) == {
        ("listenbrainz", "lastfm,listenbrainz"): len(lb_first) - 1,
        ("lastfm", "lastfm"): 1,
    }
    assert {row[1] for row in lb_first[1:]} <= {song.track_id for song in SONGS}  # ListenBrainz's Spotify ids

    # The dimensions say which source knew a track or artist only scrobbles know, with the MusicBrainz ids.
    tracks = rows(database_url, "select track_id, source, recording_mbid from marts.dim_tracks order by track_id")
    assert {row[1:] for row in tracks if row[0] in {song.track_id for song in SONGS}} == {
        ("listenbrainz", sx.RECORDING_MBID)
    }
    assert [row[1:] for row in tracks if row[0] == lb_first[0][1]] == [("lastfm", sx.RECORDING_MBID)]
    artists = rows(
        database_url,
        "select source, artist_mbid from marts.dim_artists where artist_id = %(a)s",
        {"a": lb_first[0][6]},
    )
    assert artists == [("lastfm", sx.ARTIST_MBID)]


STORED_SQL = (
    "select play_id, played_at, transformed_at, source, scrobble_sources "
    "from intermediate.int_plays_deduplicated where user_id = %(u)s order by played_at"
)


async def test_a_poll_of_a_user_with_scrobbles_recomputes_hours_around_it_not_the_whole_history(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """A scrobble's match window is a track long, cut at two hours: an incremental run recomputes the hours around
    what changed (macros/changed_listens.sql), and what it leaves alone was right (a full rebuild agrees)."""
    create_users(database_url, {MIXED: ZONE})
    weeks = _weeks(MIXED)
    scrobbled = [listen for listen in weeks if listen.ms_played >= 30_000]
    assert await import_zip(
        engine, settings, MIXED, tmp_path / "zip", extended_records=[extended_record(listen) for listen in weeks]
    )
    assert await import_scrobbles(
        engine,
        settings,
        MIXED,
        tmp_path / "history",
        listenbrainz=[listenbrainz_listen(listen) for listen in scrobbled],
        lastfm=[lastfm_scrobble(listen, 1) for listen in scrobbled],
    ) == ["success", "success"]
    await land_in_catalogue(engine, SONGS)  # the polls below then land no new track length
    await transform(database_url, full_refresh=True)
    history = rows(database_url, STORED_SQL, {"u": MIXED})
    assert len(history) == len(weeks)

    # Ten days later the collector polls three listens, which ListenBrainz recorded too; the last one's API play
    # comes with the next poll, so for one run it is a scrobble alone (its end estimated from the track's length).
    poll_start = max(listen.ended for listen in weeks) + timedelta(days=10)
    polled = [
        Listen(MIXED, poll_start + timedelta(seconds=offset), song, song.duration_ms)
        for offset, song in zip((0, 500, 1000), SONGS, strict=True)
    ]
    await land_api_plays(engine, MIXED, [api_play(listen, 300) for listen in polled[:2]])
    assert await import_scrobbles(
        engine, settings, MIXED, tmp_path / "poll", listenbrainz=[listenbrainz_listen(listen) for listen in polled]
    ) == ["success"]
    await transform(database_url)
    after_poll = rows(database_url, STORED_SQL, {"u": MIXED})
    # Every listen more than a few hours before the poll is the row the full build wrote, untouched.
    assert after_poll[: len(history)] == history
    assert [row[3:] for row in after_poll[len(history) :]] == [
        ("spotify_api", "listenbrainz"),
        ("spotify_api", "listenbrainz"),
        ("listenbrainz", "listenbrainz"),
    ]

    await land_api_plays(engine, MIXED, [api_play(polled[2], 300)])
    await transform(database_url)
    after_next_poll = rows(database_url, STORED_SQL, {"u": MIXED})
    assert after_next_poll[: len(history)] == history
    assert [row[3:] for row in after_next_poll[len(history) :]] == [("spotify_api", "listenbrainz")] * 3
    incremental = marts(database_url)
    await transform(database_url, full_refresh=True)
    assert differences(marts(database_url), incremental) == {}
