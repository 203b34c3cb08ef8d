"""The fake Spotify answers with Spotify's shapes: every answer validates against the OpenAPI description in
../shared/spotify (nullable turned into JSON Schema), in both modes, errors included. Our typed models parse
every one of them."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from starlette.testclient import TestClient

from core.spotify.models import (
    Artist,
    AudioFeatures,
    Page,
    PrivateUser,
    RecentlyPlayed,
    SearchResult,
    SimplifiedPlaylist,
    Track,
)
from tests.fakes.spotify import FakeSpotify

SPEC_CANDIDATES = [
    Path(__file__).resolve().parents[3] / "shared" / "spotify" / "spotify-web-api.openapi.yml",
    Path("/work/shared/spotify/spotify-web-api.openapi.yml"),
]


def _nullable_to_jsonschema(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable_to_jsonschema(value) for key, value in node.items()}
    if converted.pop("nullable", False):
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def _spec() -> dict[str, Any]:
    path = next((candidate for candidate in SPEC_CANDIDATES if candidate.exists()), None)
    assert path is not None, f"Spotify OpenAPI description not found in {SPEC_CANDIDATES}"
    document: dict[str, Any] = _nullable_to_jsonschema(yaml.safe_load(path.read_text()))
    return document


def _response_schema(api_path: str, status: int, method: str = "get") -> dict[str, Any]:
    spec = _spec()
    response = spec["paths"][api_path][method]["responses"][str(status)]
    name = response["$ref"].rsplit("/", 1)[-1]
    schema = spec["components"]["responses"][name]["content"]["application/json"]["schema"]
    return {**schema, "components": spec["components"]}


def check(api_path: str, answer: Any, status: int = 200, method: str = "get") -> Any:
    assert answer.status_code == status, answer.text
    body = answer.json()
    jsonschema.Draft4Validator(_response_schema(api_path, status, method)).validate(body)
    return body


@pytest.fixture(params=["new_app", "legacy"])
def fake(request: pytest.FixtureRequest) -> Iterator[tuple[FakeSpotify, TestClient, dict[str, str]]]:
    spotify = FakeSpotify(mode=request.param)
    spotify.add_user("alice")
    spotify.add_plays("alice", 60)
    access, _ = spotify.issue_tokens("alice")
    with TestClient(spotify.app) as client:
        yield spotify, client, {"Authorization": f"Bearer {access}"}


def test_user_endpoints_match_the_spec(fake: tuple[FakeSpotify, TestClient, dict[str, str]]) -> None:
    spotify, client, auth = fake
    me = check("/me", client.get("/v1/me", headers=auth))
    assert PrivateUser.model_validate(me).id == "alice"
    assert ("email" in me) is (spotify.mode == "legacy")

    recent = check("/me/player/recently-played", client.get("/v1/me/player/recently-played?limit=50", headers=auth))
    parsed = RecentlyPlayed.model_validate(recent)
    assert len(parsed.items) == 50  # the 50-play window of 60 plays
    before = recent["cursors"]["before"]
    older = check(
        "/me/player/recently-played", client.get(f"/v1/me/player/recently-played?before={before}", headers=auth)
    )
    assert older["items"] == [] and "next" not in older
    newer = client.get(f"/v1/me/player/recently-played?after={recent['cursors']['after']}", headers=auth)
    assert check("/me/player/recently-played", newer)["items"] == []

    tracks = check("/me/top/tracks", client.get("/v1/me/top/tracks?limit=5", headers=auth))
    assert len(Page[Track].model_validate(tracks).items) == 5
    artists = check("/me/top/artists", client.get("/v1/me/top/artists?limit=5&time_range=short_term", headers=auth))
    assert all(artist.genres is not None for artist in Page[Artist].model_validate(artists).items)


def test_catalogue_endpoints_match_the_spec(fake: tuple[FakeSpotify, TestClient, dict[str, str]]) -> None:
    spotify, client, auth = fake
    track = next(iter(spotify.tracks.values()))
    artist_id = track.artist_ids[0]
    one = Track.model_validate(check("/tracks/{id}", client.get(f"/v1/tracks/{track.id}", headers=auth)))
    assert (one.popularity is None) is (spotify.mode == "new_app")
    Artist.model_validate(check("/artists/{id}", client.get(f"/v1/artists/{artist_id}", headers=auth)))
    found = check("/search", client.get(f'/v1/search?q=track:"{track.name}"&type=track,artist&limit=10', headers=auth))
    result = SearchResult.model_validate(found)
    assert result.tracks is not None and track.id in [item.id for item in result.tracks.items]
    if spotify.mode == "legacy":
        check("/tracks", client.get(f"/v1/tracks?ids={track.id}", headers=auth))
        check("/artists", client.get(f"/v1/artists?ids={artist_id}", headers=auth))
        features = check("/audio-features", client.get(f"/v1/audio-features?ids={track.id}", headers=auth))
        assert AudioFeatures.model_validate(features["audio_features"][0]).tempo is not None
        check("/audio-features/{id}", client.get(f"/v1/audio-features/{track.id}", headers=auth))
        check("/search", client.get("/v1/search?q=song&type=track&limit=30", headers=auth))
    else:
        for path in (f"/v1/tracks?ids={track.id}", f"/v1/artists?ids={artist_id}", f"/v1/audio-features/{track.id}"):
            check("/tracks", client.get(path, headers=auth), 403)
        assert client.get("/v1/search?q=song&type=track&limit=30", headers=auth).status_code == 400


def test_playlist_endpoints_match_the_spec(fake: tuple[FakeSpotify, TestClient, dict[str, str]]) -> None:
    """The 2026 paths (POST /me/playlists, POST /playlists/{id}/items), scopes enforced as Spotify does."""
    spotify, client, auth = fake
    tracks = [f"spotify:track:{track.id}" for track in list(spotify.tracks.values())[:3]]
    refused = client.post("/v1/me/playlists", json={"name": "Mine", "public": False}, headers=auth)
    assert check("/me/playlists", refused, 403, "post")["error"]["message"] == "Insufficient client scope"
    scope = "playlist-modify-private playlist-modify-public playlist-read-private"
    allowed = {"Authorization": f"Bearer {spotify.issue_tokens('alice', scope=scope)[0]}"}
    created = check(
        "/me/playlists", client.post("/v1/me/playlists", json={"name": "Mine", "public": False}, headers=allowed),
        201, "post",
    )  # fmt: skip
    playlist = SimplifiedPlaylist.model_validate(created)
    assert playlist.public is False and playlist.total_items == 0 and playlist.owner and playlist.owner.id == "alice"
    added = client.post(f"/v1/playlists/{playlist.id}/items", json={"uris": tracks}, headers=allowed)
    assert check("/playlists/{playlist_id}/items", added, 201, "post")["snapshot_id"]
    too_many = client.post(f"/v1/playlists/{playlist.id}/items", json={"uris": tracks * 34}, headers=allowed)
    assert too_many.status_code == 400 and spotify.playlists[playlist.id].items == tracks
    items = check("/playlists/{playlist_id}/items", client.get(f"/v1/playlists/{playlist.id}/items", headers=allowed))
    assert [item["item"]["uri"] for item in items["items"]] == tracks
    mine = Page[SimplifiedPlaylist].model_validate(
        check("/me/playlists", client.get("/v1/me/playlists", headers=allowed))
    )
    assert [(item.id, item.total_items) for item in mine.items] == [(playlist.id, 3)]
    # Without playlist-read-private a private playlist is not listed.
    assert check("/me/playlists", client.get("/v1/me/playlists", headers=auth))["items"] == []
    one = check("/playlists/{playlist_id}", client.get(f"/v1/playlists/{playlist.id}", headers=allowed))
    assert one["items"]["total"] == 3


def test_errors_match_the_spec(fake: tuple[FakeSpotify, TestClient, dict[str, str]]) -> None:
    spotify, client, auth = fake
    check("/me", client.get("/v1/me", headers={"Authorization": "Bearer nope"}), 401)
    spotify.rate_limit(7200)
    limited = client.get("/v1/me", headers=auth)
    check("/me", limited, 429)
    assert limited.headers["retry-after"] == "7200"
    spotify.expire_access_tokens()
    assert "expired" in check("/me", client.get("/v1/me", headers=auth), 401)["error"]["message"]


def test_token_endpoint_speaks_oauth(fake: tuple[FakeSpotify, TestClient, dict[str, str]]) -> None:
    spotify, client, _ = fake
    basic = ("fake-client-id", "fake-client-secret")
    refresh = next(iter(spotify.refresh_tokens))
    ok = client.post("/api/token", data={"grant_type": "refresh_token", "refresh_token": refresh}, auth=basic)
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] == 3600
    spotify.revoke("alice")
    revoked = client.post("/api/token", data={"grant_type": "refresh_token", "refresh_token": refresh}, auth=basic)
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"
    wrong = client.post("/api/token", data={"grant_type": "client_credentials"}, auth=("fake-client-id", "bad"))
    assert wrong.json()["error"] == "invalid_client"


def test_quota_is_per_app_over_a_rolling_day_then_quota_exceeded_for_hours() -> None:
    """The 2026 quota as reported (DESIGN §2): N requests per rolling 24 h for the whole app, then 429
    QUOTA_EXCEEDED with a Retry-After of ~14 h for every caller; refused requests do not count."""
    now = [datetime(2026, 3, 1, 12, 0, tzinfo=UTC)]
    spotify = FakeSpotify(clock=lambda: now[0], quota_per_day=3, quota_retry_after=14 * 3600)
    spotify.add_user("alice")
    spotify.add_user("bob")
    alice = {"Authorization": f"Bearer {spotify.issue_tokens('alice')[0]}"}
    bob = {"Authorization": f"Bearer {spotify.issue_tokens('bob')[0]}"}
    with TestClient(spotify.app) as client:
        assert [client.get("/v1/me", headers=who).status_code for who in (alice, bob, alice)] == [200, 200, 200]
        refused = client.get("/v1/me", headers=bob)
        check("/me", refused, 429)
        assert refused.json()["error"]["reason"] == "QUOTA_EXCEEDED"
        assert int(refused.headers["retry-after"]) == 14 * 3600 + 1
        now[0] += timedelta(hours=13)
        later = client.get("/v1/me", headers=alice)
        assert later.status_code == 429 and int(later.headers["retry-after"]) == 3600 + 1
        basic = ("fake-client-id", "fake-client-secret")
        token = client.post("/api/token", data={"grant_type": "client_credentials"}, auth=basic)
        assert token.status_code == 429  # the token endpoint counts too (by default)
        now[0] += timedelta(hours=1, seconds=1)  # the block is over and the first three left the window
        assert client.get("/v1/me", headers=alice).status_code == 401  # tokens expired meanwhile; not 429
    assert len(spotify.quota_refusals) == 3
