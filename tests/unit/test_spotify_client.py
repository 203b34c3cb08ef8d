"""The typed client's policies, with respx standing in for Spotify (no network, no database)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
import respx

from core.spotify.accounts import SpotifyAccounts, code_challenge
from core.spotify.client import (
    ARTISTS_BATCH,
    AUDIO_FEATURES_BATCH,
    AUDIO_FEATURES_ONE,
    TRACKS_BATCH,
    SpotifyClient,
    StaticToken,
)
from core.spotify.endpoints import InMemoryEndpointMemory
from core.spotify.errors import (
    EndpointRemoved,
    InvalidGrant,
    RateLimited,
    SpotifyAuthError,
    SpotifyHTTPError,
    SpotifyUnavailable,
)
from core.spotify.models import TokenResponse, Track
from core.spotify.policy import RetryPolicy, parse_retry_after
from core.spotify.tokens import refresh_token_expiry

API = "https://api.test/v1"
ACCOUNTS = "https://accounts.test"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class RefreshingTokens:
    def __init__(self) -> None:
        self.token = "t1"
        self.refreshes = 0

    async def access_token(self) -> str:
        return self.token

    async def refreshed_access_token(self) -> str:
        self.refreshes += 1
        self.token = f"t{self.refreshes + 1}"
        return self.token


def _client(
    http: httpx.AsyncClient, sleeps: Sleeps, tokens: RefreshingTokens | None = None, **kwargs: object
) -> SpotifyClient:
    return SpotifyClient(
        http,
        tokens or RefreshingTokens(),
        base_url=API,
        sleep=sleeps,
        policy=RetryPolicy(base_delay=0.1, max_delay=1.0),
        endpoints=InMemoryEndpointMemory(),
        semaphore=asyncio.Semaphore(2),
        **kwargs,  # type: ignore[arg-type]
    )


def _play(track_id: str, played_at: str) -> dict[str, object]:
    return {"track": {"id": track_id, "name": f"Song {track_id}"}, "played_at": played_at, "context": None}


@respx.mock
async def test_short_retry_after_is_slept_and_long_one_raises_without_sleeping() -> None:
    route = respx.get(f"{API}/me/player/recently-played").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"status": 429, "message": "slow"}}),
            httpx.Response(200, json={"items": [_play("a1", "2026-11-24T01:00:00.000Z")]}),
            httpx.Response(429, headers={"Retry-After": "7200"}, json={"error": {"status": 429, "message": "x"}}),
        ]
    )
    sleeps = Sleeps()
    async with httpx.AsyncClient() as http:
        client = _client(http, sleeps)
        page = await client.get_recently_played(limit=50)
        assert [item.track.id for item in page.items if item.track] == ["a1"]
        assert sleeps.calls == [3.0]
        with pytest.raises(RateLimited) as raised:
            await client.get_recently_played(limit=50)
    assert raised.value.retry_after == 7200 and sleeps.calls == [3.0]
    assert route.call_count == 3 and client.stats.rate_limited == 2


@respx.mock
async def test_quota_exceeded_is_never_slept() -> None:
    respx.get(f"{API}/me").mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "5"},
            json={"error": {"status": 429, "message": "quota", "reason": "QUOTA_EXCEEDED"}},
        )
    )
    sleeps = Sleeps()
    async with httpx.AsyncClient() as http:
        with pytest.raises(RateLimited) as raised:
            await _client(http, sleeps).get_me()
    assert raised.value.reason == "QUOTA_EXCEEDED" and sleeps.calls == []


@respx.mock
async def test_too_many_short_429s_give_up() -> None:
    respx.get(f"{API}/me").mock(return_value=httpx.Response(429, headers={"Retry-After": "1"}, json={}))
    sleeps = Sleeps()
    async with httpx.AsyncClient() as http:
        with pytest.raises(RateLimited):
            await _client(http, sleeps).get_me()
    assert sleeps.calls == [1.0, 1.0, 1.0]  # max_rate_limit_retries = 3


@respx.mock
async def test_5xx_and_timeouts_back_off_exponentially_then_give_up() -> None:
    route = respx.get(f"{API}/me").mock(
        side_effect=[httpx.Response(502), httpx.ConnectTimeout("slow"), httpx.Response(200, json={"id": "me"})]
    )
    sleeps = Sleeps()
    async with httpx.AsyncClient() as http:
        me = await _client(http, sleeps).get_me()
        assert me.id == "me" and me.email is None and me.country is None  # fields gone for new apps → None
        assert route.call_count == 3
        assert 0.05 <= sleeps.calls[0] <= 0.1 and 0.1 <= sleeps.calls[1] <= 0.2
        respx.get(f"{API}/me").mock(return_value=httpx.Response(503))
        with pytest.raises(SpotifyUnavailable):
            await _client(http, Sleeps()).get_me()


@respx.mock
async def test_a_write_is_repeated_only_when_spotify_did_not_apply_it() -> None:
    """429, 5xx and a connection never made are repeated; a timeout after sending is not (it may have landed)."""
    route = respx.post(f"{API}/playlists/p1/items").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}, json={"error": {"status": 429, "message": "slow"}}),
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(201, json={"snapshot_id": "s2"}),
            httpx.ReadTimeout("no answer"),
        ]
    )
    sleeps = Sleeps()
    async with httpx.AsyncClient() as http:
        client = _client(http, sleeps)
        assert await client.add_playlist_items("p1", ["spotify:track:a", "spotify:track:b"]) == "s2"
        assert route.call_count == 4 and sleeps.calls[0] == 2.0
        assert json.loads(route.calls[0].request.content) == {"uris": ["spotify:track:a", "spotify:track:b"]}
        with pytest.raises(SpotifyUnavailable, match="may or may not have been applied"):
            await client.add_playlist_items("p1", ["spotify:track:c"])
        assert route.call_count == 5
        with pytest.raises(ValueError, match="1 to 100"):
            await client.add_playlist_items("p1", [f"spotify:track:{n}" for n in range(101)])


@respx.mock
async def test_401_refreshes_once_then_gives_up() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        if request.headers["authorization"] == "Bearer t2":
            return httpx.Response(200, json={"id": "me"})
        return httpx.Response(401, json={"error": {"status": 401, "message": "The access token expired"}})

    respx.get(f"{API}/me").mock(side_effect=answer)
    tokens = RefreshingTokens()
    async with httpx.AsyncClient() as http:
        assert (await _client(http, Sleeps(), tokens).get_me()).id == "me"
        assert seen == ["Bearer t1", "Bearer t2"] and tokens.refreshes == 1
        respx.get(f"{API}/me").mock(return_value=httpx.Response(401, json={"error": {"status": 401, "message": "no"}}))
        with pytest.raises(SpotifyAuthError):
            await _client(http, Sleeps(), tokens).get_me()
        assert tokens.refreshes == 2


@respx.mock
async def test_removed_batch_endpoint_falls_back_to_single_calls_and_is_remembered() -> None:
    batch = respx.get(f"{API}/tracks").mock(
        return_value=httpx.Response(403, json={"error": {"status": 403, "message": "Forbidden"}})
    )
    respx.get(f"{API}/tracks/aaa").mock(return_value=httpx.Response(200, json={"id": "aaa", "name": "A"}))
    respx.get(f"{API}/tracks/bbb").mock(
        return_value=httpx.Response(404, json={"error": {"status": 404, "message": "nope"}})
    )
    async with httpx.AsyncClient() as http:
        client = _client(http, Sleeps())
        first = await client.get_tracks(["aaa", "spotify:track:bbb"])
        second = await client.get_tracks(["aaa"])
    assert [track.name if track else None for track in first] == ["A", None]
    assert second[0] is not None and second[0].popularity is None
    assert batch.call_count == 1 and client.endpoints.is_removed(TRACKS_BATCH)
    assert not client.endpoints.is_removed(ARTISTS_BATCH)


@respx.mock
async def test_legacy_batch_keeps_order_and_pads_missing() -> None:
    respx.get(f"{API}/artists").mock(
        return_value=httpx.Response(200, json={"artists": [{"id": "x1", "name": "X", "genres": ["jazz"]}, None]})
    )
    async with httpx.AsyncClient() as http:
        artists = await _client(http, Sleeps()).get_artists(["x1", "x2"])
    assert artists[0] is not None and artists[0].genres == ["jazz"] and artists[1] is None


@respx.mock
async def test_audio_features_unavailable_raises_once_and_never_calls_again() -> None:
    many = respx.get(f"{API}/audio-features").mock(return_value=httpx.Response(403, json={}))
    one = respx.get(f"{API}/audio-features/aaa").mock(return_value=httpx.Response(403, json={}))
    async with httpx.AsyncClient() as http:
        client = _client(http, Sleeps())
        with pytest.raises(EndpointRemoved):
            await client.get_audio_features(["aaa"])
        with pytest.raises(EndpointRemoved):
            await client.get_audio_features(["aaa"])
    assert many.call_count == 1 and one.call_count == 1
    assert client.endpoints.is_removed(AUDIO_FEATURES_BATCH) and client.endpoints.is_removed(AUDIO_FEATURES_ONE)


@respx.mock
async def test_other_errors_are_typed_not_remembered() -> None:
    respx.get(f"{API}/me/top/tracks").mock(
        return_value=httpx.Response(403, json={"error": {"status": 403, "message": "not allow-listed"}})
    )
    async with httpx.AsyncClient() as http:
        client = _client(http, Sleeps())
        with pytest.raises(SpotifyHTTPError) as raised:
            await client.get_top_tracks()
    assert raised.value.status_code == 403 and "not allow-listed" in str(raised.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # The OAuth-style ("legacy") body some answers carry: the description, with its code.
        (
            {"error": "invalid_request", "error_description": "Only valid bearer authentication supported"},
            "Only valid bearer authentication supported (invalid_request)",
        ),
        ({"error": "invalid_client", "error_description": None}, "invalid_client"),
        ({"error": "invalid_client", "error_description": ""}, "invalid_client"),
        ({"error": "", "error_description": ""}, "HTTP 400 Bad Request"),
        ({"error": {"status": 400}}, "HTTP 400 Bad Request"),
        ({"error": {"status": 400, "message": ""}}, "HTTP 400 Bad Request"),
        ({"error": {"status": 400, "message": None, "reason": "NO_ACTIVE_DEVICE"}}, "NO_ACTIVE_DEVICE"),
        ({"error": {"status": 400, "message": "Invalid limit"}}, "Invalid limit"),
        ({"unexpected": True}, "HTTP 400 Bad Request"),
        ([], "HTTP 400 Bad Request"),
    ],
)
@respx.mock
async def test_every_error_body_gives_a_real_message(body: object, expected: str) -> None:
    """Issue 15.7: `{"error": "...", "error_description": ...}` gave an empty (or `None`) message."""
    respx.get(f"{API}/me/top/tracks").mock(return_value=httpx.Response(400, json=body))
    async with httpx.AsyncClient() as http:
        with pytest.raises(SpotifyHTTPError) as raised:
            await _client(http, Sleeps()).get_top_tracks()
    assert raised.value.message == expected
    assert str(raised.value) == f"Spotify answered 400 on GET /me/top/tracks: {expected}"


@respx.mock
async def test_an_error_without_a_json_body_gives_its_text_or_status() -> None:
    respx.get(f"{API}/me/top/tracks").mock(
        side_effect=[httpx.Response(400, text="  Bad request, try later  "), httpx.Response(400, text="")]
    )
    async with httpx.AsyncClient() as http:
        client = _client(http, Sleeps())
        with pytest.raises(SpotifyHTTPError) as text_body:
            await client.get_top_tracks()
        with pytest.raises(SpotifyHTTPError) as empty_body:
            await client.get_top_tracks()
    assert text_body.value.message == "Bad request, try later"
    assert empty_body.value.message == "HTTP 400 Bad Request"


async def test_bad_inputs_get_clear_errors() -> None:
    async with httpx.AsyncClient() as http:
        client = _client(http, Sleeps())
        with pytest.raises(ValueError, match="between 1 and 10"):
            await client.search("x", limit=20)
        with pytest.raises(ValueError, match="empty"):
            await client.search("  ")
        with pytest.raises(ValueError, match="either"):
            await client.get_recently_played(after=1, before=2)
        with pytest.raises(ValueError, match="timezone-aware"):
            await client.get_recently_played(after=datetime(2026, 1, 1))
        with pytest.raises(ValueError, match="between 1 and 50"):
            await client.get_recently_played(limit=51)
        with pytest.raises(ValueError, match="not a Spotify id"):
            await client.get_track("../me")


@respx.mock
async def test_cursor_params_are_unix_milliseconds() -> None:
    route = respx.get(f"{API}/me/player/recently-played").mock(return_value=httpx.Response(200, json={"items": []}))
    async with httpx.AsyncClient() as http:
        await _client(http, Sleeps()).get_recently_played(after=datetime(2026, 11, 24, 1, 0, 0, 123000, tzinfo=UTC))
    assert route.calls.last.request.url.params["after"] == "1795482000123"


def test_models_take_missing_fields_as_none_and_keep_extras() -> None:
    track = Track.model_validate({"id": "abc", "name": "N", "linked_from": {"id": "zzz"}})
    assert track.popularity is None and track.album is None and track.artists is None
    assert track.model_dump(mode="json", exclude_unset=True)["linked_from"] == {"id": "zzz"}
    assert "secret" not in repr(TokenResponse(access_token="secret", refresh_token="secret2"))


@respx.mock
async def test_accounts_invalid_grant_and_basic_auth() -> None:
    route = respx.post(f"{ACCOUNTS}/api/token").mock(
        side_effect=[
            httpx.Response(400, json={"error": "invalid_grant", "error_description": "Refresh token revoked"}),
            httpx.Response(200, json={"access_token": "new", "token_type": "Bearer", "expires_in": 3600}),
        ]
    )
    async with httpx.AsyncClient() as http:
        accounts = SpotifyAccounts(http, base_url=ACCOUNTS, client_id="cid", client_secret="sec")
        with pytest.raises(InvalidGrant, match="revoked"):
            await accounts.refresh("r1")
        assert (await accounts.refresh("r1")).access_token == "new"
    request = route.calls.last.request
    assert request.headers["authorization"] == "Basic Y2lkOnNlYw=="
    assert b"grant_type=refresh_token" in request.content
    url = accounts.authorize_url(state="s", challenge="c", redirect_uri="http://127.0.0.1:8000/auth/callback")
    assert "code_challenge_method=S256" in url and "user-top-read" in url


def test_pkce_challenge_matches_rfc7636_example() -> None:
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_backoff_and_retry_after_parsing() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4)
    for attempt, cap in ((1, 0.5), (2, 1.0), (3, 2.0), (6, 4.0)):
        assert cap / 2 <= policy.backoff(attempt) <= cap
    assert parse_retry_after("12", 1) == 12 and parse_retry_after(None, 1) == 1 and parse_retry_after("soon", 2) == 2


def test_refresh_token_expires_six_calendar_months_after_consent() -> None:
    assert refresh_token_expiry(datetime(2026, 8, 31, 12, tzinfo=UTC)) == datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert refresh_token_expiry(datetime(2026, 11, 24, tzinfo=UTC)) == datetime(2027, 5, 24, tzinfo=UTC)


def test_static_token_cannot_refresh() -> None:
    with pytest.raises(SpotifyAuthError):
        asyncio.run(StaticToken("x").refreshed_access_token())
