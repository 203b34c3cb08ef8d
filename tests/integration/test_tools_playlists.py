"""Playlists from the history (issue 19), against the fake Spotify over loopback and a real PostgreSQL: every
source, retries with the same key, consent, the user's own account only, 100 items per request through the
budget, a 429 mid-way (waited out, or resumed by the next call without duplicates), names matched or listed."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from core.crypto import TokenCipher, generate_key
from core.dburl import libpq_url
from core.settings import load_settings
from core.spotify.accounts import PLAYLIST_SCOPES
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fakes.spotify import FakeSpotify, FakeTrack, connect_user, spotify_env
from tests.fixtures.marts import Listen, create_marts, load_listens, record_transform
from tests.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FULL_SCOPE = " ".join(("user-read-recently-played", "user-top-read", *PLAYLIST_SCOPES))
ITEMS = "/v1/playlists/{}/items"


def local_id(name: str) -> str:
    return "local:" + hashlib.sha1(name.encode()).hexdigest()


@dataclass
class Setup:
    fake: FakeSpotify
    base: str
    user_id: str
    database_url: str
    catalog: list[FakeTrack]
    # What each source must give, most played first (worked out here from the listens, not by the tool's SQL).
    expected: dict[str, list[str]]

    async def call(self, tool: str, args: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=60) as http:
            return await http.post(
                f"{self.base}/mcp/call",
                json={"tool": tool, "args": {"user_id": self.user_id, **args}},
                headers=headers or ADMIN,
            )

    def add_calls(self, playlist_id: str) -> list[int]:
        """The statuses of the add requests (200: let through to the endpoint, which answered 201)."""
        return [call.status for call in self.fake.calls_for(ITEMS.format(playlist_id), method="POST")]

    def requests(self, endpoint: str) -> int:
        with psycopg.connect(libpq_url(self.database_url)) as connection:
            row = connection.execute(
                "SELECT count(*) FROM app.spotify_requests WHERE endpoint = %s AND purpose = 'tools'", (endpoint,)
            ).fetchone()
        assert row is not None
        return int(row[0])


def _history(fake: FakeSpotify, now: datetime) -> tuple[list[Listen], dict[str, str], dict[str, list[str]]]:
    """Listens of catalogue tracks with a known answer for every source."""
    catalog = list(fake.tracks.values())
    names = {track.id: track.name for track in catalog} | {a.id: a.name for a in fake.artists.values()}
    listens: list[Listen] = []

    def play(track: FakeTrack, days_ago: float, times: int) -> None:
        for index in range(times):
            at = now - timedelta(days=days_ago, minutes=7 * index)
            listens.append(Listen(at, track.id, track.artist_ids[0]))

    on_repeat = catalog[0:4]  # many plays in the last 30 days, first played long ago
    for rank, track in enumerate(on_repeat):
        play(track, 400, 1)
        for day in range(1, 11):
            play(track, day, 1 + (3 - rank) // 2 if day % 2 else 1)
    discoveries = catalog[4:7]  # first played 10 days ago
    for rank, track in enumerate(discoveries):
        play(track, 10, 3 - rank)
    forgotten = catalog[7:10]  # heavily played 250-300 days ago, never since
    for rank, track in enumerate(forgotten):
        for day in range(8 - rank):
            play(track, 250 + day * 5, 1)
    once = catalog[10:12]  # one play each 50 days ago: in the top tracks, not on repeat
    for track in once:
        play(track, 50, 1)

    def ranked(tracks: list[FakeTrack], since_days: float | None = None, until_days: float = 0) -> list[str]:
        counts = Counter(
            listen.track_id
            for listen in listens
            if listen.track_id in {track.id for track in tracks}
            and (since_days is None or now - timedelta(days=since_days) <= listen.played_at)
            and listen.played_at <= now - timedelta(days=until_days)
        )
        return [track_id for track_id, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]

    in_90 = ranked(catalog, 89)
    recent = Counter(listen.track_id for listen in listens if listen.played_at >= now - timedelta(days=29))
    artist = catalog[0].artist_ids[0]
    expected = {
        "top_tracks": in_90,
        # First played inside the last 90 days: the new tracks and the ones played once, 50 days ago.
        "discoveries": ranked(discoveries + once, 89),
        "on_repeat": [track_id for track_id in ranked(catalog, 29) if recent[track_id] >= 3],
        "forgotten_favourites": ranked(forgotten),
        "artist": ranked([track for track in catalog if track.artist_ids[0] == artist]),
        "cluster": ranked([track for track in catalog if track.artist_ids[0] in _cluster_artists(fake)], 89),
    }
    return listens, names, expected


def _cluster_artists(fake: FakeSpotify) -> set[str]:
    tracks = list(fake.tracks.values())
    return {tracks[4].artist_ids[0], tracks[5].artist_ids[0]}


def _load(database_url: str, fake: FakeSpotify, user_id: UUID, now: datetime) -> dict[str, list[str]]:
    listens, names, expected = _history(fake, now)
    create_marts(database_url)
    load_listens(database_url, user_id, "UTC", listens, names)
    record_transform(database_url, now)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO marts.fct_taste_clusters (user_id, window_name, window_start, window_end, cluster_id, label, "
            "share_of_plays, plays, feature_set, k, quality_score, computed_at) VALUES "
            "(%s, 'last_90_days', %s, %s, 0, 'Cluster zero', 0.5, 10, 'test', 2, 0.4, %s), "
            "(%s, 'last_90_days', %s, %s, 1, 'Cluster one', 0.5, 10, 'test', 2, 0.4, %s)",
            (user_id, now - timedelta(days=90), now, now) * 2,
        )
        for artist_id in _cluster_artists(fake):
            connection.execute(
                "INSERT INTO marts.fct_taste_cluster_artists VALUES (%s, 'last_90_days', 0, %s, 5)",
                (user_id, artist_id),
            )
    return expected


@pytest.fixture
def setup(database_url: str) -> Iterator[Setup]:
    fake = FakeSpotify()
    catalog = fake.ensure_catalog(520)
    key = generate_key()
    with live_server(fake.app) as fake_base:
        user_id, _ = connect_user(database_url, TokenCipher([key]), fake, "listener", scope=FULL_SCOPE)
        expected = _load(database_url, fake, user_id, datetime.now(UTC) - timedelta(minutes=5))
        settings = load_settings(spotify_env(database_url, fake_base, key))
        with live_server(create_app(settings, database_url)) as base:
            yield Setup(fake, base, str(user_id), database_url, catalog, expected)


def _uris(track_ids: list[str]) -> list[str]:
    return [f"spotify:track:{track_id}" for track_id in track_ids]


async def test_a_playlist_from_each_source_holds_that_sources_tracks_in_order(setup: Setup) -> None:
    artist_name = setup.fake.artists[setup.catalog[0].artist_ids[0]].name
    extra: dict[str, dict[str, Any]] = {"artist": {"artist": artist_name}, "cluster": {"cluster_id": 0}}
    for source, expected in setup.expected.items():
        assert expected, source
        answer = await setup.call(
            "spotify.create_playlist", {"name": f"From {source}", "source": source, **extra.get(source, {})}
        )
        assert answer.status_code == 200, (source, answer.text)
        result = answer.json()["result"]
        assert result["status"] == "complete" and "Created the playlist" in result["note"], result
        assert result["tracks_added"] == result["tracks_requested"] == len(expected), (source, result)
        playlist = setup.fake.playlists[result["playlist_id"]]
        assert playlist.items == _uris(expected), source
        assert playlist.owner_id == "listener" and playlist.public is False and playlist.name == f"From {source}"
        assert result["spotify_url"] == f"https://open.spotify.com/playlist/{playlist.id}"
    # Every write went through the installation's request budget, as a tool request.
    assert setup.requests("POST /me/playlists") == len(setup.expected)
    assert setup.requests("POST /playlists/{id}/items") == len(setup.expected)


async def test_500_tracks_take_five_add_requests_and_a_short_429_is_waited_out(setup: Setup) -> None:
    tracks = [track.id for track in setup.catalog[:500]]
    setup.fake.rate_limit(1, skip=2, path_prefix="/v1/playlists/", method="POST")
    answer = await setup.call("spotify.create_playlist", {"name": "Five hundred", "track_ids": tracks})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["status"] == "complete" and result["tracks_added"] == 500 and len(result["tracks"]) == 100
    playlist = setup.fake.playlists[result["playlist_id"]]
    assert playlist.items == _uris(tracks)  # in order, nothing twice
    assert setup.add_calls(playlist.id) == [200, 200, 429, 200, 200, 200]
    assert setup.requests("POST /playlists/{id}/items") == 6  # the refused one was spent too


async def test_a_long_429_mid_add_answers_what_was_added_and_the_same_key_resumes(setup: Setup) -> None:
    tracks = [track.id for track in setup.catalog[:500]]
    setup.fake.rate_limit(7200, skip=2, path_prefix="/v1/playlists/", method="POST")
    args = {"name": "Resumed", "track_ids": tracks, "idempotency_key": "resume-1"}
    first = await setup.call("spotify.create_playlist", args)
    assert first.status_code == 200, first.text
    partial = first.json()["result"]
    playlist = setup.fake.playlists[partial["playlist_id"]]
    assert partial["status"] == "partial" and partial["tracks_added"] == 200 and len(partial["tracks"]) == 100
    assert partial["retry_after_seconds"] == 7200 and "resume-1" in partial["note"] and "300" in partial["note"]
    assert playlist.items == _uris(tracks[:200])
    # Spotify's stop applies to the whole installation until it ends; here it has ended.
    with psycopg.connect(libpq_url(setup.database_url), autocommit=True) as connection:
        assert connection.execute("DELETE FROM app.spotify_quota_blocks").rowcount == 1
    second = await setup.call("spotify.create_playlist", args)
    assert second.status_code == 200, second.text
    done = second.json()["result"]
    assert done["playlist_id"] == playlist.id and done["status"] == "complete"
    assert done["tracks_added"] == 500 and done["note"].startswith("Resumed the earlier request")
    assert playlist.items == _uris(tracks) and len(setup.fake.playlists_of("listener")) == 1
    assert setup.add_calls(playlist.id) == [200, 200, 429, 200, 200, 200]


async def test_a_retry_with_the_same_key_returns_the_first_playlist(setup: Setup) -> None:
    args = {"name": "Once", "source": "top_tracks", "limit": 5, "idempotency_key": "k-1"}
    first = (await setup.call("spotify.create_playlist", args)).json()["result"]
    again = await setup.call("spotify.create_playlist", args)
    assert again.status_code == 200, again.text
    replay = again.json()["result"]
    assert replay["playlist_id"] == first["playlist_id"] and "nothing new was added" in replay["note"]
    assert replay["tracks"] == first["tracks"] and len(setup.fake.playlists_of("listener")) == 1
    assert setup.add_calls(first["playlist_id"]) == [200]
    # Without a key, the same request on the same day is the same write too.
    plain = {"name": "No key", "source": "discoveries"}
    one = (await setup.call("spotify.create_playlist", plain)).json()["result"]
    two = (await setup.call("spotify.create_playlist", plain)).json()["result"]
    assert (
        one["playlist_id"] == two["playlist_id"]
        and "made before" in two["note"]
        and len(setup.fake.playlists_of("listener")) == 2
    )
    # A key reused for another request is refused, and nothing is written.
    reused = await setup.call("spotify.create_playlist", {**args, "name": "Other"})
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_conflict", reused.text
    assert len(setup.fake.playlists_of("listener")) == 2


async def test_a_user_who_connected_before_playlists_is_asked_to_reconnect(setup: Setup) -> None:
    with psycopg.connect(libpq_url(setup.database_url), autocommit=True) as connection:
        connection.execute("UPDATE app.spotify_tokens SET scope = 'user-read-recently-played user-top-read'")
    answer = await setup.call("spotify.create_playlist", {"name": "No", "source": "top_tracks"})
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == "spotify_consent_missing" and "reconnect to allow playlists" in error["message"].lower()
    assert (
        error["details"]["reconnect_url"].endswith("/auth/login")
        and error["details"]["reconnect_url"] in (error["message"])
    )
    assert set(error["details"]["missing_scopes"]) == {"playlist-modify-private", "playlist-modify-public"}
    assert not setup.fake.calls_for("/v1/me/playlists", method="POST") and not setup.fake.playlists


async def test_only_the_users_own_account_and_admin_tokens_name_the_user(setup: Setup) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        unnamed = await http.post(
            f"{setup.base}/mcp/call",
            json={"tool": "spotify.create_playlist", "args": {"name": "x", "source": "top_tracks"}},
            headers=ADMIN,
        )
    assert unnamed.status_code == 422 and "user_id" in unnamed.text  # even though the server has one user
    setup.fake.add_user("someone")
    theirs = setup.fake.add_playlist("someone", "Not yours", public=True, items=3)
    mine = setup.fake.add_playlist("listener", "Mine", items=2)
    refused = await setup.call(
        "spotify.add_to_playlist", {"playlist_id": theirs.id, "track_ids": [setup.catalog[0].id]}
    )
    assert refused.status_code == 403 and "another Spotify account" in refused.text
    assert len(theirs.items) == 3
    link = f"https://open.spotify.com/playlist/{mine.id}?si=abc"
    added = await setup.call(
        "spotify.add_to_playlist",
        {"playlist_id": link, "track_ids": setup.expected["on_repeat"], "idempotency_key": "add-1"},
    )
    assert added.status_code == 200, added.text
    assert mine.items[2:] == _uris(setup.expected["on_repeat"]) and added.json()["result"]["tracks_added"] == len(
        setup.expected["on_repeat"]
    )
    listed = await setup.call("spotify.list_playlists", {})
    assert listed.status_code == 200, listed.text
    playlists = listed.json()["result"]["playlists"]
    assert [(item["id"], item["tracks"]) for item in playlists] == [(mine.id, 2 + len(setup.expected["on_repeat"]))]


async def test_name_only_tracks_are_matched_once_and_the_rest_listed(setup: Setup) -> None:
    known = setup.catalog[15]
    artist = setup.fake.artists[known.artist_ids[0]].name
    matched, missing, nameless = local_id("matched"), local_id("missing"), local_id("nameless")
    with psycopg.connect(libpq_url(setup.database_url), autocommit=True) as connection:
        for track_id, name, artist_name in ((matched, known.name, artist), (missing, "No Such Song", "Nobody")):
            connection.execute(
                "INSERT INTO marts.dim_tracks (track_id, name, primary_artist_name, source) "
                "VALUES (%s, %s, %s, 'import_zip')",
                (track_id, name, artist_name),
            )
    ids = [setup.catalog[1].id, matched, missing, nameless]
    answer = await setup.call("spotify.create_playlist", {"name": "Old export", "track_ids": ids})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert setup.fake.playlists[result["playlist_id"]].items == _uris([setup.catalog[1].id, known.id])
    assert result["unresolved"] == [
        f"No Such Song — Nobody ({missing}): Spotify has no track matching this name and artist",
        f"{nameless}: no name is known for this track, so it cannot be looked up on Spotify",
    ]
    assert "2 track(s) could not be matched" in result["note"]
    searches = len(setup.fake.calls_for("/v1/search"))
    assert searches == 2
    again = await setup.call("spotify.create_playlist", {"name": "Old export, again", "track_ids": ids})
    assert again.status_code == 200 and len(again.json()["result"]["unresolved"]) == 2
    assert len(setup.fake.calls_for("/v1/search")) == searches  # remembered, not searched again
    nothing = await setup.call("spotify.create_playlist", {"name": "Nothing", "track_ids": [missing]})
    assert nothing.status_code == 404 and missing in nothing.json()["error"]["details"]["unresolved"][0]


async def test_the_faces_mark_playlist_writes_as_consequential_and_not_destructive(setup: Setup) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        openapi = (await http.get(f"{setup.base}/mcp/openapi.json", headers=ADMIN)).json()
    operations = {
        operation["operationId"]: operation
        for path in openapi["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert operations["spotify_create_playlist"]["x-openai-isConsequential"] is True
    assert operations["spotify_add_to_playlist"]["x-openai-isConsequential"] is True
    assert operations["spotify_list_playlists"]["x-openai-isConsequential"] is False
    transport = streamable_http_client(f"{setup.base}/mcp", http_client=create_mcp_http_client(headers=ADMIN))
    async with Client(transport, mode="legacy", cache=None) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        hints = tools["spotify_create_playlist"].annotations
        assert hints is not None
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (False, False, True)
        answer = await client.call_tool(
            "spotify_create_playlist", {"user_id": setup.user_id, "name": "Via MCP", "source": "forgotten_favourites"}
        )
        assert not answer.is_error, answer
        structured = answer.structured_content
        assert structured is not None and structured["status"] == "complete"
        assert json.loads(answer.content[0].text)["playlist_id"] == structured["playlist_id"]  # type: ignore[union-attr]
    assert setup.fake.playlists[structured["playlist_id"]].items == _uris(setup.expected["forgotten_favourites"])


async def test_explicit_ids_need_no_warehouse_and_bad_ids_are_named(database_url: str) -> None:
    """Before the first transform there are no marts: Spotify ids still make a playlist; bad ids are 422."""
    fake = FakeSpotify()
    catalog = fake.ensure_catalog(5)
    key = generate_key()
    with live_server(fake.app) as fake_base:
        user_id, _ = connect_user(database_url, TokenCipher([key]), fake, "fresh", scope=FULL_SCOPE)
        settings = load_settings(spotify_env(database_url, fake_base, key))
        with live_server(create_app(settings, database_url)) as base:
            setup = Setup(fake, base, str(user_id), database_url, catalog, {})
            ids = [f"spotify:track:{catalog[0].id}", f"https://open.spotify.com/track/{catalog[1].id}?si=x"]
            made = await setup.call("spotify.create_playlist", {"name": "Fresh", "track_ids": ids, "public": True})
            assert made.status_code == 200, made.text
            playlist = fake.playlists[made.json()["result"]["playlist_id"]]
            assert playlist.items == _uris([catalog[0].id, catalog[1].id]) and playlist.public is True
            bad = await setup.call("spotify.create_playlist", {"name": "Bad", "track_ids": ["nope", catalog[2].id]})
            assert bad.status_code == 422 and bad.json()["error"]["details"]["fields"][0]["field"] == "track_ids.0"
            both = await setup.call("spotify.create_playlist", {"name": "x", "track_ids": ids, "source": "on_repeat"})
            assert both.status_code == 422 and "exactly one" in both.text
            history = await setup.call("spotify.create_playlist", {"name": "x", "source": "on_repeat"})
            assert history.status_code == 404 and history.json()["error"]["code"] == "no_data"


async def test_two_calls_racing_with_one_key_make_one_playlist(setup: Setup) -> None:
    args = {"name": "Raced", "source": "top_tracks", "idempotency_key": "race-1"}
    setup.fake.delay_seconds = 0.2  # both calls are in flight together
    first, second = await asyncio.gather(
        setup.call("spotify.create_playlist", args), setup.call("spotify.create_playlist", args)
    )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["result"]["playlist_id"] == second.json()["result"]["playlist_id"]
    assert len(setup.fake.playlists_of("listener")) == 1
    assert setup.fake.playlists[first.json()["result"]["playlist_id"]].items == _uris(setup.expected["top_tracks"])
