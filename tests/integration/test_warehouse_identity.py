"""The warehouse counts each listen once and each artist as one identity, whatever mix of sources and edits
(issue 15 items 1, 2, 5 and the one-play repeat row), on a real PostgreSQL through the real import and landing.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.marts.rankings import top_artists, top_tracks
from core.marts.windows import Span
from core.settings import Settings
from tests.integration.warehouse_history import (
    Listen,
    Song,
    account_record,
    api_play,
    at,
    create_users,
    delete_user,
    differences,
    execute,
    extended_record,
    import_scrobbles,
    import_zip,
    land_api_plays,
    listenbrainz_listen,
    marts,
    resolve_from_catalogue,
    rows,
    transform,
)

ALICE = uuid.UUID("00000000-0000-0000-0000-00000000a11c")
BOB = uuid.UUID("00000000-0000-0000-0000-000000000b0b")

SONG = Song("4uLU6hMCjMI75M1A2tKUQC", "Blue Monday", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Power")
OTHER = Song("1301WleyT98MSxVHPZCA6M", "Ceremony", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Singles")


ALL_TIME = Span("all time", date(2006, 4, 23), date(2030, 1, 1), ZoneInfo("UTC"), date(2030, 1, 1))


def _ranked(database_url: str, sql: str, params: dict[str, object]) -> list[Any]:
    engine = create_sync_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params))
    finally:
        engine.dispose()


def _top_artist_names(database_url: str, user_id: uuid.UUID) -> list[str]:
    """Top artists of all time as the tools and dashboards rank them (core/marts)."""
    query = top_artists(user_id, ALL_TIME, 50, all_time=True)
    return [row.name for row in _ranked(database_url, query.sql, dict(query.params))]


def _top_tracks(database_url: str, user_id: uuid.UUID) -> list[Any]:
    """Top tracks of all time as the tools and dashboards rank them (core/marts)."""
    query = top_tracks(user_id, ALL_TIME, 50, all_time=True)
    return _ranked(database_url, query.sql, dict(query.params))


async def test_both_exports_of_the_same_listens_count_once(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC"})
    start = at("2026-03-02 08:00:07")
    listens = [Listen(ALICE, start + timedelta(minutes=4 * n, seconds=n * 7), SONG, 200_000 + n) for n in range(9)]
    # The person downloaded both exports of the same period; the account data has one listen more (the
    # extended export is older) and one msPlayed off by a second (the two exports round differently).
    extra = Listen(ALICE, at("2026-03-02 09:30:30"), OTHER, 150_000)
    account = [account_record(listen, 1000 if n == 3 else 0) for n, listen in enumerate(listens)]
    assert await import_zip(engine, settings, ALICE, tmp_path, extended_records=[extended_record(x) for x in listens])
    assert await import_zip(engine, settings, ALICE, tmp_path, account_records=[*account, account_record(extra)])
    await transform(database_url, full_refresh=True)

    plays = rows(
        database_url,
        "select played_at, track_id, ms_played from marts.fct_plays where user_id = %(u)s order by played_at",
        {"u": ALICE},
    )
    assert [(played_at, ms) for played_at, _, ms in plays[:9]] == [(x.ended, x.ms_played) for x in listens]
    assert plays[:9] == [(x.ended, SONG.track_id, x.ms_played) for x in listens]  # the extended record is kept
    assert len(plays) == 10 and plays[9][0] == at("2026-03-02 09:30:00")  # the account-only listen stays
    daily = rows(
        database_url, "select plays, listens from marts.agg_daily_listening where user_id = %(u)s", {"u": ALICE}
    )
    assert daily == [(10, 10)]


async def test_listens_in_one_minute_pair_by_duration_and_a_different_duration_stays_apart(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC"})
    # A 12-second skip and a replay that both ended in the same minute: each account record pairs with the
    # extended record of its own duration. At 10:05 the account record lasted far longer than the extended
    # record of that minute: two different listens, both kept.
    skip = Listen(ALICE, at("2026-03-02 10:00:05"), SONG, 12_000)
    replay = Listen(ALICE, at("2026-03-02 10:00:50"), SONG, 45_000)
    short = Listen(ALICE, at("2026-03-02 10:05:30"), SONG, 40_000)
    long = Listen(ALICE, at("2026-03-02 10:05:59"), SONG, 150_000)
    extended = [extended_record(skip), extended_record(replay), extended_record(short)]
    assert await import_zip(engine, settings, ALICE, tmp_path, extended_records=extended)
    account = [account_record(replay), account_record(skip), account_record(long)]
    assert await import_zip(engine, settings, ALICE, tmp_path, account_records=account)
    await transform(database_url, full_refresh=True)
    plays = rows(
        database_url,
        "select played_at, ms_played, track_id like 'local:%%' from marts.fct_plays order by played_at, ms_played",
    )
    assert plays == [
        (skip.ended, 12_000, False),
        (replay.ended, 45_000, False),
        # The account-only listen is the same song (its extended records name the track): the Spotify id.
        (at("2026-03-02 10:05:00"), 150_000, False),
        (short.ended, 40_000, False),
    ]


async def test_an_api_play_pairs_with_the_account_record_of_the_minute_it_ended_in(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC"})
    # The same song twice: one listen ended at 12:00:50 (API and account data both have it), the next at
    # 12:01:55 (account data only). The account record "12:00" stands for [12:00:00, 12:01:00): the API play
    # lies inside it (gap 0), while "12:01" is 10 s from its start. Pairing on the truncated minute picked 12:01.
    first = Listen(ALICE, at("2026-03-02 12:00:50"), SONG, 180_000)
    second = Listen(ALICE, at("2026-03-02 12:01:55"), SONG, 60_000)
    await land_api_plays(engine, ALICE, [api_play(first, 300)])
    assert await import_zip(
        engine, settings, ALICE, tmp_path, account_records=[account_record(first), account_record(second)]
    )
    await transform(database_url, full_refresh=True)
    plays = rows(database_url, "select played_at, source, ms_played from marts.fct_plays order by played_at")
    assert plays == [
        (first.ended + timedelta(milliseconds=300), "both", 180_000),
        (at("2026-03-02 12:01:00"), "import_zip", 60_000),
    ]


async def test_name_only_listens_take_the_artist_any_source_knows_also_when_it_arrives_later(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC", BOB: "UTC"})
    # Alice only has account data (names); she listened to two songs of one artist and to Bob's favourite.
    alice = [
        Listen(ALICE, at("2026-03-01 09:00:10"), SONG, 200_000),
        Listen(ALICE, at("2026-03-01 09:10:10"), OTHER, 200_000),
        Listen(ALICE, at("2026-03-01 09:20:10"), SONG, 200_000),
    ]
    assert await import_zip(engine, settings, ALICE, tmp_path, account_records=[account_record(x) for x in alice])
    await transform(database_url, full_refresh=True)
    artist_ids = rows(database_url, "select distinct primary_artist_id from marts.fct_plays")
    assert artist_ids == [("local:" + hashlib.md5(b"new order").hexdigest(),)]

    # Later, Bob's collector polls a play of one of those songs: its (artist, title) → Spotify ids mapping now
    # resolves every name-only listen of the artist (the other song through the artist's unique name).
    await land_api_plays(engine, BOB, [api_play(Listen(BOB, at("2026-03-05 20:00:00"), SONG, 0))])
    await transform(database_url)
    alice_artists = rows(
        database_url, "select distinct primary_artist_id from marts.fct_plays where user_id = %(u)s", {"u": ALICE}
    )
    assert alice_artists == [(SONG.artist_id,)]
    names = _top_artist_names(database_url, ALICE)
    assert names == ["New Order"]
    assert rows(database_url, "select count(*) from marts.dim_artists where lower(name) = 'new order'") == [(1,)]
    totals = rows(
        database_url,
        "select primary_artist_id, sum(plays) from marts.agg_daily_track_plays where user_id = %(u)s group by 1",
        {"u": ALICE},
    )
    assert totals == [(SONG.artist_id, 3)]

    incremental = marts(database_url)
    await transform(database_url, full_refresh=True)
    assert differences(incremental, marts(database_url)) == {}


async def test_a_song_heard_by_name_and_by_id_is_one_row_in_top_tracks_also_when_the_id_arrives_later(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC"})
    # Alice's account data (names only) has three listens of SONG and one of OTHER; later her collector polls
    # two more plays of SONG (other days): one song, one row, five plays.
    by_name = [Listen(ALICE, at(f"2026-03-0{day} 09:00:10"), SONG, 200_000) for day in (1, 2, 3)]
    other = Listen(ALICE, at("2026-03-04 09:00:10"), OTHER, 200_000)
    assert await import_zip(
        engine, settings, ALICE, tmp_path, account_records=[account_record(x) for x in [*by_name, other]]
    )
    await transform(database_url, full_refresh=True)
    by_id = [Listen(ALICE, at(f"2026-03-1{day} 20:00:00"), SONG, 0) for day in (1, 2)]
    await land_api_plays(engine, ALICE, [api_play(listen) for listen in by_id])
    await transform(database_url)

    ranked = _top_tracks(database_url, ALICE)
    assert [(row.name, row.plays) for row in ranked] == [("Blue Monday", 5), ("Ceremony", 1)]
    assert rows(database_url, "select distinct track_id from marts.fct_plays where track_name = 'Blue Monday'") == [
        (SONG.track_id,)
    ]
    # OTHER is known by name only: it keeps its `local:` id, under the artist SONG resolved.
    assert rows(
        database_url,
        "select track_id like 'local:%%', primary_artist_id from marts.fct_plays where track_name = 'Ceremony'",
    ) == [(True, SONG.artist_id)]
    incremental = marts(database_url)
    await transform(database_url, full_refresh=True)
    assert differences(incremental, marts(database_url)) == {}


async def test_listens_resolved_to_a_spotify_track_take_its_id_and_artist_also_when_the_resolution_arrives_later(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC", BOB: "UTC"})
    # Alice's account data names "Blue Monday - 2016 Remaster": no source knows that exact artist + title, so
    # only the resolver (raw.track_resolutions) can tell it is the Blue Monday her collector polled. Two Spotify
    # artists are called "New Order" (Bob polled the other), so the artist name alone resolves nothing either.
    remaster = Song("x", "Blue Monday - 2016 Remaster", "x", "New Order", "x")
    by_name = [Listen(ALICE, at(f"2026-03-0{day} 09:00:10"), remaster, 200_000) for day in (1, 2)]
    assert await import_zip(engine, settings, ALICE, tmp_path, account_records=[account_record(x) for x in by_name])
    namesake = Song("7gKyb2WDpVtDR1cYTvqHUu", "Temptation", "1namesakeArtistNewOrder", "New Order", "Other")
    await land_api_plays(engine, BOB, [api_play(Listen(BOB, at("2026-03-05 20:00:00"), namesake, 0))])
    await land_api_plays(engine, ALICE, [api_play(Listen(ALICE, at("2026-03-10 20:00:00"), SONG, 0))])
    await transform(database_url, full_refresh=True)
    assert [row.plays for row in _top_tracks(database_url, ALICE)] == [2, 1]  # one song under two ids

    # The resolver settles the name against the catalogue (Alice's polled play described SONG); the next routine
    # run gives her listens SONG's id, artist and album everywhere downstream.
    stats = await resolve_from_catalogue(engine)
    assert (stats.resolved, stats.searched) == (1, 0)
    await transform(database_url)
    ranked = _top_tracks(database_url, ALICE)
    assert [(row.track_id, row.plays) for row in ranked] == [(SONG.track_id, 3)]
    assert _top_artist_names(database_url, ALICE) == ["New Order"]
    assert rows(
        database_url,
        "select distinct track_id, track_name, album_name, primary_artist_id from marts.fct_plays "
        "where user_id = %(u)s",
        {"u": ALICE},
    ) == [(SONG.track_id, SONG.name, SONG.album, SONG.artist_id)]
    assert rows(
        database_url,
        "select track_id, primary_artist_id, plays from marts.agg_track_totals where user_id = %(u)s",
        {"u": ALICE},
    ) == [(SONG.track_id, SONG.artist_id, 3)]
    assert rows(
        database_url,
        "select artist_id, plays from marts.agg_monthly_artist_plays where user_id = %(u)s",
        {"u": ALICE},
    ) == [(SONG.artist_id, 3)]
    incremental = marts(database_url)
    await transform(database_url, full_refresh=True)
    assert differences(incremental, marts(database_url)) == {}


async def test_a_title_two_spotify_tracks_share_keeps_its_local_id(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC", BOB: "UTC"})
    # Two Spotify tracks carry "New Order – Blue Monday" (the single and the album cut): a name-only listen is
    # not assigned to either by guesswork.
    single = Song("5uLU6hMCjMI75M1A2tKUQD", "Blue Monday", SONG.artist_id, "New Order", "Blue Monday")
    await land_api_plays(
        engine,
        BOB,
        [
            api_play(Listen(BOB, at("2026-03-05 20:00:00"), SONG, 0)),
            api_play(Listen(BOB, at("2026-03-05 20:10:00"), single, 0)),
        ],
    )
    listen = Listen(ALICE, at("2026-03-01 09:00:10"), SONG, 200_000)
    assert await import_zip(engine, settings, ALICE, tmp_path, account_records=[account_record(listen)])
    await transform(database_url, full_refresh=True)
    assert rows(
        database_url,
        "select track_id like 'local:%%', primary_artist_id from marts.fct_plays where user_id = %(u)s",
        {"u": ALICE},
    ) == [(True, SONG.artist_id)]


async def test_deleting_the_user_whose_plays_resolved_names_gives_the_marts_of_a_full_refresh(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC", BOB: "UTC"})
    # Alice has account data only; Bob's extended history (track URIs) is the only source of the
    # (artist, title) → id mapping (an API play would also describe the track in the shared catalogue, raw.tracks,
    # which stays: Spotify's metadata, not Bob's).
    alice = [Listen(ALICE, at(f"2026-03-0{day} 09:00:10"), SONG, 200_000) for day in (1, 2)]
    assert await import_zip(engine, settings, ALICE, tmp_path, account_records=[account_record(x) for x in alice])
    bob = Listen(BOB, at("2026-03-05 20:00:00"), SONG, 200_000)
    assert await import_zip(engine, settings, BOB, tmp_path, extended_records=[extended_record(bob)])
    await transform(database_url, full_refresh=True)
    assert rows(database_url, "select distinct track_id from marts.fct_plays where user_id = %(u)s", {"u": ALICE}) == [
        (SONG.track_id,)
    ]

    await delete_user(engine, BOB, settings.effective_upload_dir)
    await transform(database_url)
    after_deletion = marts(database_url)
    # Nothing of Bob's is left to resolve Alice's names: her listens are name-only again, as a fresh build says.
    assert rows(
        database_url,
        "select distinct track_id like 'local:%%', primary_artist_id like 'local:%%' from marts.fct_plays",
    ) == [(True, True)]
    await transform(database_url, full_refresh=True)
    assert differences(after_deletion, marts(database_url)) == {}


async def test_deleting_the_only_user_whose_export_named_a_track_gives_its_sources_of_a_full_refresh(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """Issue 21 (e): int_tracks_played and int_artists_played gather which sources reported a track or artist over
    every user's plays. Bob's export is the only one that named the song; after his deletion a routine run must
    say what a full refresh says (only ListenBrainz, Alice's, reported it), not keep his export's word."""
    create_users(database_url, {ALICE: "UTC", BOB: "UTC"})
    alice = Listen(ALICE, at("2026-03-01 09:00:10"), SONG, SONG.duration_ms)
    statuses = await import_scrobbles(
        engine, settings, ALICE, tmp_path / "alice", listenbrainz=[listenbrainz_listen(alice)]
    )
    assert statuses == ["success"]
    bob = Listen(BOB, at("2026-03-05 20:00:00"), SONG, 200_000)
    assert await import_zip(engine, settings, BOB, tmp_path / "bob", extended_records=[extended_record(bob)])
    await transform(database_url, full_refresh=True)
    sources_sql = (
        "select (select source from marts.dim_tracks where track_id = %(t)s), "
        "(select string_agg(source, ',') from marts.dim_artists where name = %(a)s)"
    )
    ids = {"t": SONG.track_id, "a": SONG.artist}
    assert rows(database_url, sources_sql, ids) == [("import_zip", "import_zip")]

    await delete_user(engine, BOB, settings.effective_upload_dir)
    await transform(database_url)
    after_deletion = marts(database_url)
    assert rows(database_url, sources_sql, ids) == [("listenbrainz", "listenbrainz")]
    await transform(database_url, full_refresh=True)
    assert differences(after_deletion, marts(database_url)) == {}


async def test_an_artist_name_two_spotify_artists_share_is_not_merged(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC", BOB: "UTC"})
    twin_a = Song("6rqhFgbbKwnb9MLmUQDhG6", "Lithium", "6olE6TJLqED3rqDCT0FyPh", "Nirvana", "Nevermind")
    twin_b = Song("3xKsf9qdS1CyvXSMEid6g8", "Rainbow Chaser", "5PokPZn11xzZXyXSfnvIM3", "Nirvana", "Single")
    await land_api_plays(
        engine,
        BOB,
        [
            api_play(Listen(BOB, at("2026-03-05 20:00:00"), twin_a, 0)),
            api_play(Listen(BOB, at("2026-03-05 20:05:00"), twin_b, 0)),
        ],
    )
    unknown = Song("x", "Sliver", "x", "Nirvana", "x")
    assert await import_zip(
        engine,
        settings,
        ALICE,
        tmp_path,
        account_records=[account_record(Listen(ALICE, at("2026-03-01 09:00:10"), unknown, 200_000))],
    )
    await transform(database_url, full_refresh=True)
    assert rows(
        database_url,
        "select primary_artist_id like 'local:%%' from marts.fct_plays where user_id = %(u)s",
        {"u": ALICE},
    ) == [(True,)]


async def test_a_time_zone_change_rebuilds_the_local_marts_on_the_next_incremental_run(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC"})
    listens = [Listen(ALICE, at("2026-03-02 22:30:00") + timedelta(hours=5 * n), SONG, 200_000) for n in range(6)]
    assert await import_zip(engine, settings, ALICE, tmp_path, extended_records=[extended_record(x) for x in listens])
    await transform(database_url, full_refresh=True)
    utc_days = rows(database_url, "select local_date, plays from marts.agg_daily_listening order by 1")

    execute(database_url, "update app.users set timezone = 'Pacific/Kiritimati' where id = %(u)s", {"u": ALICE})
    await transform(database_url)
    after = marts(database_url)
    kiritimati_days = rows(database_url, "select local_date, plays from marts.agg_daily_listening order by 1")
    assert kiritimati_days != utc_days
    # +14 h: 22:30 UTC on the 2nd is 12:30 on the 3rd.
    first = rows(database_url, "select local_date, local_hour from marts.fct_plays order by played_at limit 1")
    assert first == [(date(2026, 3, 3), 12)]
    assert sum(plays for _, plays in kiritimati_days) == 6
    await transform(database_url, full_refresh=True)
    assert differences(after, marts(database_url)) == {}


@pytest.mark.parametrize("source", ["extended", "account", "api"])
async def test_repeat_stats_have_a_row_for_a_user_with_exactly_one_play(
    source: str, engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC", BOB: "UTC"})
    # Bob's history is built first; Alice's single play arrives for a routine (incremental) run.
    bob = [Listen(BOB, at("2026-03-01 10:00:00") + timedelta(minutes=5 * n), OTHER, 100_000) for n in range(2)]
    assert await import_zip(engine, settings, BOB, tmp_path / "bob", extended_records=[extended_record(x) for x in bob])
    await transform(database_url, full_refresh=True)
    listen = Listen(ALICE, at("2026-03-02 10:00:00"), SONG, 200_000)
    if source == "api":
        await land_api_plays(engine, ALICE, [api_play(listen)])
    else:
        records = {f"{source}_records": [extended_record(listen) if source == "extended" else account_record(listen)]}
        assert await import_zip(engine, settings, ALICE, tmp_path, **records)
    await transform(database_url)
    stats = rows(
        database_url,
        "select plays, unique_tracks, repeat_rate, top10_share, tracks_played_once, max_plays_single_track "
        "from marts.fct_repeat_stats where user_id = %(u)s",
        {"u": ALICE},
    )
    assert stats == [(1, 1, 0.0, 1.0, 1, 1)]


_TRACK_TIME_INDEXES = """
    select ix.indexrelid::regclass::text
    from pg_index as ix
    where ix.indrelid = 'intermediate.int_plays_deduplicated'::regclass
        and array(
            select attribute.attname::text
            from unnest(ix.indkey) with ordinality as key(attnum, position)
            inner join pg_attribute as attribute on attribute.attrelid = ix.indrelid and attribute.attnum = key.attnum
            order by key.position
        ) = array['track_id', 'played_at']
"""


async def test_the_track_time_index_of_the_plays_is_kept_by_incremental_runs_and_created_when_missing(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    create_users(database_url, {ALICE: "UTC"})
    await land_api_plays(engine, ALICE, [api_play(Listen(ALICE, at("2026-03-01 09:00:10"), SONG, 0))])
    await transform(database_url, full_refresh=True)
    built = rows(database_url, _TRACK_TIME_INDEXES)
    assert len(built) == 1
    # A routine run leaves the index as it is (the same relation, not dropped and built again)...
    await land_api_plays(engine, ALICE, [api_play(Listen(ALICE, at("2026-03-02 09:00:10"), SONG, 0))])
    await transform(database_url)
    assert rows(database_url, _TRACK_TIME_INDEXES) == built
    # ...and creates it on a table that lacks it (built before the index was configured), once.
    execute(database_url, f"drop index {built[0][0]}")
    await land_api_plays(engine, ALICE, [api_play(Listen(ALICE, at("2026-03-03 09:00:10"), SONG, 0))])
    await transform(database_url)
    recreated = rows(database_url, _TRACK_TIME_INDEXES)
    assert len(recreated) == 1
    await land_api_plays(engine, ALICE, [api_play(Listen(ALICE, at("2026-03-04 09:00:10"), SONG, 0))])
    await transform(database_url)
    assert rows(database_url, _TRACK_TIME_INDEXES) == recreated
    assert rows(database_url, "select count(*) from marts.fct_plays") == [(4,)]
