"""Property (issues 15, 21): any mix of the same listens — delivered as extended export, account export, API plays
and scrobbles (a ListenBrainz listen, a Last.fm scrobble or both, recording when the listen started; the two
services' imports in either order), imported in random order, in pieces, re-imported, with time zones changed in
between, a third user who imported exports and was deleted somewhere in between (serve.user_deletion), and
incremental transforms at random points —
gives exactly the marts of one clean delivery of the remaining users transformed once (every mart compared), and
those marts count every listen once and every artist under one id.

The deleted user delivers exports only: an API play also describes its track in the shared catalogue (raw.tracks,
Spotify's metadata, which a deletion keeps), so a clean delivery without them could not know it.

One song's account-data title carries a suffix ("Temptation - 2019 Remaster") that no other source shows: only
the resolver (ingest.resolve, settling it against the catalogue, where a search had put the track) makes those
listens plays of the Spotify track. It runs at a random point and once at the end, as the collector's cycles
do, and once in the clean delivery.

Seeded random histories rather than hypothesis: each example costs several dbt runs (seconds each), so a few
rich examples beat many small ones. `WAREHOUSE_PROPERTY_SEEDS=1,2,3,...` runs more of them.
"""

from __future__ import annotations

import dataclasses
import os
import random
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine
from core.dburl import libpq_url, with_database
from core.settings import Settings
from core.spotify.models import PlayHistory
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
    land_in_catalogue,
    lastfm_scrobble,
    listenbrainz_listen,
    marts,
    resolve_from_catalogue,
    rows,
    transform,
)

SEEDS = [int(seed) for seed in os.environ.get("WAREHOUSE_PROPERTY_SEEDS", "7,2026").split(",") if seed.strip()]

USERS = {
    uuid.UUID("00000000-0000-0000-0000-0000000000a1"): "Europe/Berlin",
    uuid.UUID("00000000-0000-0000-0000-0000000000b2"): "America/New_York",
}
# Imports exports (whose track URIs resolve other users' name-only listens), then is deleted.
DELETED = uuid.UUID("00000000-0000-0000-0000-0000000000c3")
OTHER_ZONES = ["UTC", "Asia/Tokyo", "Pacific/Kiritimati", "America/Los_Angeles"]

CATALOG = [
    Song("4uLU6hMCjMI75M1A2tKUQC", "Blue Monday", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Power", 449_000),
    Song("1301WleyT98MSxVHPZCA6M", "Ceremony", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Singles", 264_000),
    Song("7ouMYWpwJ422jRcDASZB7P", "Café del Mar", "3ETLPQkcEd7z4k3IbZmXMq", "Energy 52", "Café", 444_000),
    Song("0VjIjW4GlUZAMYd2vXMi3b", "Blinding Lights", "1Xyo4u8uXC1ZmMpatF05PJ", "The Weeknd", "After Hours", 200_000),
    Song("2takcwOaAZWiXQijPHIx7B", "Time", "4tZwfgrHOc3mvqYlEYSvVi", "Pink Floyd", "Dark Side", 413_000),
    Song("3n3Ppam7vgaVa1iaRUc9Lp", "Mr. Brightside", "0C0XlULifJtAgn6ZNCW2eu", "The Killers", "Hot Fuss", 222_000),
]
# Known to the catalogue from the start; its account-data title has a suffix only the resolver sees through.
REMASTERED = Song("5ZLkc5RY1NM4FtGWEd6HOE", "Temptation", "0aTTeHIhOqGNvxGVWvHBR6", "New Order", "Substance")
CATALOG.append(REMASTERED)


def _history(rng: random.Random, users: Sequence[uuid.UUID]) -> list[Listen]:
    """30 listens per user over a few days, each starting at least two minutes after the previous one ended (so no
    two listens of one user share a minute), some of them skips (< 30 s), none longer than its track, crossing
    midnight in every zone used."""
    listens: list[Listen] = []
    for user_id in users:
        moment = at("2026-02-27 20:00:00") + timedelta(seconds=rng.randrange(3600))
        for _ in range(30):
            song = rng.choice(CATALOG)
            ms = rng.choice([rng.randrange(3_000, 29_000), rng.randrange(60_000, song.duration_ms + 1)])
            moment += timedelta(minutes=rng.randrange(2, 400), seconds=rng.randrange(60), milliseconds=ms)
            moment = moment.replace(microsecond=0)
            listens.append(Listen(user_id, moment, song, ms))
    return listens


def _deliveries(
    rng: random.Random, listens: Sequence[Listen], kinds: Sequence[str] = ("extended", "account", "api", "scrobble")
) -> dict[str, list[tuple[Listen, Any]]]:
    """Which source has which listen: every listen at least once, often two or three times. Scrobblers record no
    skips; a scrobbled listen goes to ListenBrainz, Last.fm or both (whose start times differ by up to two seconds,
    or not at all: ListenBrainz's import of Last.fm history keeps the second)."""
    found: dict[str, list[tuple[Listen, Any]]] = {name: [] for name in kinds}
    for listen in listens:
        offered = [name for name in found if name != "scrobble" or listen.ms_played >= 30_000]
        sources = [name for name in offered if rng.random() < 0.55] or [rng.choice(offered)]
        for name in sources:
            if name == "extended":
                found[name].append((listen, extended_record(listen)))
            elif name == "scrobble":
                services = rng.choice([("listenbrainz",), ("lastfm",), ("listenbrainz", "lastfm")])
                found[name].append(
                    (
                        listen,
                        (
                            [listenbrainz_listen(listen)] if "listenbrainz" in services else [],
                            [lastfm_scrobble(listen, rng.choice([-2, -1, 0, 1, 2]) if len(services) == 2 else 0)]
                            if "lastfm" in services
                            else [],
                        ),
                    )
                )
            elif name == "account":
                # The two exports may round msPlayed differently, by up to a second.
                named = listen
                if listen.song == REMASTERED:
                    named = dataclasses.replace(
                        listen, song=dataclasses.replace(REMASTERED, name=f"{REMASTERED.name} - 2019 Remaster")
                    )
                found[name].append((listen, account_record(named, rng.randrange(-1000, 1001))))
            else:  # the API's end time has milliseconds and lies a moment after the export's
                found[name].append((listen, api_play(listen, rng.randrange(0, 2500))))
    return found


def _pieces[T](rng: random.Random, items: Sequence[T], count: int) -> list[list[T]]:
    shuffled = list(items)
    rng.shuffle(shuffled)
    cuts = sorted(rng.sample(range(len(shuffled) + 1), count - 1))
    return [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]


async def _import_scrobbles(
    engine: AsyncEngine,
    settings: Settings,
    user_id: uuid.UUID,
    directory: Path,
    items: Sequence[tuple[list[dict[str, Any]], list[tuple[int, str, str, str]]]],
    *,
    lastfm_first: bool = False,
) -> None:
    """A ListenBrainz export and a Last.fm CSV of the scrobble deliveries `items`, through the real import job (the
    Last.fm one first when `lastfm_first`: the order must not matter)."""
    listenbrainz = [record for records, _ in items for record in records]
    lastfm = [row for _, rows_ in items for row in rows_]
    statuses = await import_scrobbles(
        engine, settings, user_id, directory, listenbrainz=listenbrainz, lastfm=lastfm, lastfm_first=lastfm_first
    )
    assert statuses and set(statuses) == {"success"}, statuses


@contextmanager
def _other_database(pg_server_url: str, template_database: str) -> Iterator[str]:
    name = f"spmcp_clean_{secrets.token_hex(5)}"
    admin = libpq_url(with_database(pg_server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    try:
        yield with_database(pg_server_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _deliver_cleanly(
    database_url: str, settings: Settings, directory: Path, deliveries: dict[str, list[tuple[Listen, Any]]]
) -> None:
    create_users(database_url, USERS)
    engine = create_engine(database_url, application_name="spotify-mcp tests (clean delivery)")
    try:
        await land_in_catalogue(engine, [REMASTERED])
        for user_id in USERS:
            extended = [record for listen, record in deliveries["extended"] if listen.user_id == user_id]
            account = [record for listen, record in deliveries["account"] if listen.user_id == user_id]
            assert await import_zip(
                engine, settings, user_id, directory, extended_records=extended, account_records=account
            )
            plays: list[PlayHistory] = [play for listen, play in deliveries["api"] if listen.user_id == user_id]
            await land_api_plays(engine, user_id, plays)
            await _import_scrobbles(
                engine,
                settings,
                user_id,
                directory,
                [item for listen, item in deliveries["scrobble"] if listen.user_id == user_id],
            )
        await resolve_from_catalogue(engine)
    finally:
        await engine.dispose()
    await transform(database_url, full_refresh=True)


@pytest.mark.parametrize("seed", SEEDS)
async def test_any_mix_order_and_edits_give_the_marts_of_one_clean_delivery(
    seed: int,
    engine: AsyncEngine,
    settings: Settings,
    database_url: str,
    pg_server_url: str,
    template_database: str,
    tmp_path: Path,
) -> None:
    rng = random.Random(seed)
    listens = _history(rng, list(USERS))
    deliveries = _deliveries(rng, listens)
    deleted_deliveries = _deliveries(rng, _history(rng, [DELETED]), ("extended", "account"))

    # The messy way: users start in other zones, every source arrives in pieces in random order, one ZIP is
    # imported twice, zones change (to a wrong one, then to the final one), transforms run in between.
    create_users(database_url, {user_id: rng.choice(OTHER_ZONES) for user_id in [*USERS, DELETED]})
    await land_in_catalogue(engine, [REMASTERED])
    steps: list[tuple[str, uuid.UUID, list[tuple[Listen, Any]]]] = []
    for source, delivered in [*deliveries.items(), *deleted_deliveries.items()]:
        for user_id in [*USERS, DELETED]:
            mine = [item for item in delivered if item[0].user_id == user_id]
            if not mine:
                continue
            steps += [(source, user_id, piece) for piece in _pieces(rng, mine, 2 if source != "api" else 3) if piece]
    steps.append(rng.choice([step for step in steps if step[0] != "api"]))  # a re-import of one ZIP
    steps += [("zone", user_id, []) for user_id in USERS for _ in range(2)]
    steps.append(("resolve", next(iter(USERS)), []))
    rng.shuffle(steps)
    # The deletion comes after the user's first import, somewhere in the second half; what they would have
    # delivered after it never arrives.
    first_import = min(number for number, step in enumerate(steps) if step[1] == DELETED)
    steps.insert(rng.randrange(max(first_import + 1, len(steps) // 2), len(steps) + 1), ("delete", DELETED, []))
    deleted = False
    zone_changes: Counter[uuid.UUID] = Counter()
    for number, (source, user_id, items) in enumerate(steps):
        if user_id == DELETED and deleted:
            continue
        if source == "delete":
            await delete_user(engine, DELETED, settings.effective_upload_dir)
            deleted = True
        elif source == "resolve":
            await resolve_from_catalogue(engine)
        elif source == "zone":
            zone_changes[user_id] += 1
            final = zone_changes[user_id] == 2
            zone = USERS[user_id] if final else rng.choice(OTHER_ZONES)
            execute(database_url, "update app.users set timezone = %(z)s where id = %(u)s", {"z": zone, "u": user_id})
        elif source == "api":
            await land_api_plays(engine, user_id, [play for _, play in items])
        elif source == "scrobble":
            await _import_scrobbles(
                engine,
                settings,
                user_id,
                tmp_path / f"step{number}",
                [item for _, item in items],
                lastfm_first=rng.random() < 0.5,
            )
        else:
            records = [record for _, record in items]
            key = "extended_records" if source == "extended" else "account_records"
            assert await import_zip(engine, settings, user_id, tmp_path / f"step{number}", **{key: records})
        if rng.random() < 0.5:
            await transform(database_url)
    await resolve_from_catalogue(engine)
    await transform(database_url)
    messy = marts(database_url)

    with _other_database(pg_server_url, template_database) as clean_url:
        await _deliver_cleanly(clean_url, settings, tmp_path / "clean", deliveries)
        clean = marts(clean_url)
        assert differences(messy, clean) == {}, f"seed {seed}"

        # And the clean answer is right: every listen once, every artist under one id.
        for user_id in USERS:
            expected = sum(1 for listen in listens if listen.user_id == user_id)
            counted = rows(clean_url, "select count(*) from marts.fct_plays where user_id = %(u)s", {"u": user_id})
            assert counted == [(expected,)], f"seed {seed}"
            split = rows(
                clean_url,
                "select lower(primary_artist_name), count(distinct primary_artist_id) from marts.fct_plays "
                "where user_id = %(u)s group by 1 having count(distinct primary_artist_id) > 1",
                {"u": user_id},
            )
            assert split == [], f"seed {seed}"
