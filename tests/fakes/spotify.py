"""A faithful fake of Spotify (accounts service + Web API) for tests, served over real loopback HTTP.

Serve it with `tests.live_server.live_server(fake.app)`; point `SPOTIFY_ACCOUNTS_BASE_URL` at the base
URL and `SPOTIFY_API_BASE_URL` at `<base>/v1`. Its answers follow Spotify's OpenAPI description
(`tests/unit/test_spotify_fake_schema.py` validates them) and the late-2026 rules of DESIGN §2:

- recently-played shows only each user's **last 50 plays**; `before`/`after` are Unix-millisecond cursors;
- `mode="new_app"` (default) behaves like a development-mode app: batch `/tracks` `/artists` and audio
  features answer 403, `popularity`/`followers` are absent, `/me` has no e-mail/country/product, artist
  genres may be empty, search `limit` is at most 10. `mode="legacy"` has all of it.

Switchable behaviours: `rate_limit(...)` (429 with short or very long `Retry-After`, optional
`QUOTA_EXCEEDED`), `server_errors(n)` (5xx bursts), `revoke(user)` (`invalid_grant` on refresh),
`expire_access_tokens()` (401 on the next call), `delay_seconds` (slow answers), `deny_consent`,
`authorize_error` (Spotify's own error page instead of a redirect).

The 2026 quota (DESIGN §2): with `quota_per_day=N` the fake counts requests over a rolling 24 h for the
whole app (every user and the app's own token together, as Spotify counts per developer account; token
requests too unless `quota_counts_token_requests=False`). Request N+1 and every request after it, until
`quota_retry_after` seconds (default 14 h) have passed, answer 429 with `"reason": "QUOTA_EXCEEDED"` and a
`Retry-After` counting down to the end of the block; refused requests are not counted, and when the block
ends the count starts afresh (reports describe calls working again once the Retry-After has passed).

Time: `clock` (default: the real clock) decides token expiry and the quota window. With a clock of its own
(virtual time), a play is visible only once its `played_at` has passed, so a simulation can load days of
listening up front and move the clock through them; on the real clock every play added is visible at once
(tests add plays "ten minutes from now" to be newer than anything stored).
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import hashlib
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlencode
from uuid import UUID

import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from core.crypto import TokenCipher
from core.dburl import libpq_url

type JsonObject = dict[str, object]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
WINDOW = 50  # Spotify shows only the last 50 plays
MARKETS = ["DE", "US"]


def spotify_id(kind: str, key: object) -> str:
    """A deterministic 22-character base62 id, like Spotify's."""
    number = int.from_bytes(hashlib.sha1(f"{kind}:{key}".encode()).digest(), "big")
    chars = []
    for _ in range(22):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "".join(chars)


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class FakeArtist:
    id: str
    name: str
    genres: list[str]


@dataclass
class FakeTrack:
    id: str
    name: str
    artist_ids: list[str]
    album_id: str
    album_name: str
    duration_ms: int
    explicit: bool = False


@dataclass
class FakePlay:
    track_id: str
    played_at: datetime
    context_uri: str | None = None


@dataclass
class FakeUser:
    id: str
    display_name: str
    email: str
    plays: list[FakePlay] = field(default_factory=list)


@dataclass
class FakePlaylist:
    id: str
    owner_id: str
    name: str
    description: str | None
    public: bool
    items: list[str] = field(default_factory=list)  # Spotify URIs, in order
    snapshots: int = 1


@dataclass
class _Code:
    user_id: str
    redirect_uri: str
    challenge: str
    scope: str
    used: bool = False


@dataclass
class _Access:
    user_id: str | None  # None: client credentials (the app itself)
    expires_at: datetime
    scope: str = ""


@dataclass
class _RateLimit:
    retry_after: int
    times: int
    reason: str | None
    path_prefix: str | None
    user_id: str | None
    skip: int = 0  # matching requests let through before the first 429
    method: str | None = None


@dataclass
class RecordedCall:
    path: str
    params: dict[str, str]
    user_id: str | None
    status: int
    at: datetime | None = None  # by the fake's clock
    method: str = "GET"


def real_clock() -> datetime:
    return datetime.now(UTC)


class FakeSpotify:
    def __init__(
        self,
        *,
        mode: Literal["new_app", "legacy"] = "new_app",
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
        access_token_ttl: int = 3600,
        clock: Callable[[], datetime] = real_clock,
        quota_per_day: int | None = None,
        quota_retry_after: int = 14 * 3600,
        quota_counts_token_requests: bool = True,
    ) -> None:
        self.mode = mode
        self.clock = clock
        self._hide_future_plays = clock is not real_clock
        self.quota_per_day = quota_per_day
        self.quota_retry_after = quota_retry_after
        self.quota_counts_token_requests = quota_counts_token_requests
        self._quota_window: deque[datetime] = deque()
        self.quota_blocked_until: datetime | None = None
        # Every time the quota answered QUOTA_EXCEEDED (a correct client stops at the first).
        self.quota_refusals: list[datetime] = []
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_token_ttl = access_token_ttl
        self.artists: dict[str, FakeArtist] = {}
        self.tracks: dict[str, FakeTrack] = {}
        self.users: dict[str, FakeUser] = {}
        self.codes: dict[str, _Code] = {}
        self.access: dict[str, _Access] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user id
        self.refresh_scopes: dict[str, str] = {}  # refresh token -> the scope the user granted
        self.playlists: dict[str, FakePlaylist] = {}
        self.revoked_users: set[str] = set()
        self.calls: list[RecordedCall] = []
        self.token_grants: list[str] = []
        self.token_grant_times: list[datetime] = []  # by the fake's clock
        # Behaviours.
        self.login_as: str | None = None
        self.deny_consent = False
        self.authorize_error: str | None = None
        self.delay_seconds = 0.0
        # Answer recently-played as if `before`/`after` were not given (paging that does not move).
        self.ignore_cursors = False
        # Refreshing returns a new refresh token and retires the old one (as Spotify may do for PKCE apps).
        self.rotate_refresh_tokens = False
        # Users not on a development-mode app's allow-list: every Web API call answers 403.
        self.not_allow_listed: set[str] = set()
        self.in_flight = 0
        self.peak_in_flight = 0
        self._rate_limits: list[_RateLimit] = []
        self._server_errors = 0
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/authorize", self._authorize, methods=["GET"]),
                Route("/api/token", self._token, methods=["POST"]),
                Route("/v1/me", self._me, methods=["GET"]),
                Route("/v1/me/player/recently-played", self._recently_played, methods=["GET"]),
                Route("/v1/me/top/{kind}", self._top, methods=["GET"]),
                Route("/v1/search", self._search, methods=["GET"]),
                Route("/v1/tracks", self._tracks, methods=["GET"]),
                Route("/v1/tracks/{id}", self._track, methods=["GET"]),
                Route("/v1/artists", self._artists, methods=["GET"]),
                Route("/v1/artists/{id}", self._artist, methods=["GET"]),
                Route("/v1/audio-features", self._audio_features_many, methods=["GET"]),
                Route("/v1/audio-features/{id}", self._audio_features_one, methods=["GET"]),
                Route("/v1/me/playlists", self._my_playlists, methods=["GET"]),
                Route("/v1/me/playlists", self._create_playlist, methods=["POST"]),
                Route("/v1/playlists/{id}", self._playlist, methods=["GET"]),
                Route("/v1/playlists/{id}/items", self._playlist_items, methods=["GET"]),
                Route("/v1/playlists/{id}/items", self._add_playlist_items, methods=["POST"]),
            ]
        )

    # ==============================================================================================
    # Test set-up
    # ==============================================================================================
    def add_user(self, user_id: str, *, display_name: str | None = None) -> FakeUser:
        user = FakeUser(user_id, display_name or f"User {user_id}", f"{user_id}@example.org")
        self.users[user_id] = user
        return user

    def add_artist(self, name: str, genres: list[str] | None = None) -> FakeArtist:
        artist = FakeArtist(spotify_id("artist", name), name, genres if genres is not None else ["indie pop"])
        self.artists[artist.id] = artist
        return artist

    def add_track(
        self, name: str, artist_names: list[str], *, album: str = "Album", duration_ms: int = 200_000
    ) -> FakeTrack:
        artist_ids = [
            (
                self.add_artist(artist)
                if spotify_id("artist", artist) not in self.artists
                else self.artists[spotify_id("artist", artist)]
            ).id
            for artist in artist_names
        ]
        track = FakeTrack(
            spotify_id("track", f"{name}|{'|'.join(artist_names)}"),
            name,
            artist_ids,
            spotify_id("album", album),
            album,
            duration_ms,
        )
        self.tracks[track.id] = track
        return track

    def ensure_catalog(self, size: int = 30) -> list[FakeTrack]:
        while len(self.tracks) < size:
            n = len(self.tracks)
            self.add_track(
                f"Song {n}", [f"Artist {n % 7}"] + ([f"Guest {n % 3}"] if n % 5 == 0 else []), album=f"Album {n % 4}"
            )
        return list(self.tracks.values())

    def add_plays(
        self, user_id: str, count: int, *, end: datetime | None = None, spacing: timedelta = timedelta(minutes=3)
    ) -> list[FakePlay]:
        """`count` plays ending at `end` (default now), `spacing` apart, cycling through the catalogue."""
        catalog = self.ensure_catalog()
        user = self.users[user_id]
        end = end or self.clock()
        last = end.replace(microsecond=end.microsecond // 1000 * 1000)
        new = []
        for index in range(count):
            played_at = last - spacing * (count - 1 - index)
            track = catalog[(len(user.plays) + index) % len(catalog)]
            context = (
                f"spotify:playlist:{spotify_id('playlist', index % 3)}"
                if index % 2 == 0
                else f"spotify:album:{track.album_id}"
            )
            new.append(FakePlay(track.id, played_at, context))
        with self._lock:
            user.plays.extend(new)
            user.plays.sort(key=lambda play: play.played_at)
        return new

    # Behaviours --------------------------------------------------------------------------------------
    def rate_limit(
        self,
        retry_after: int,
        *,
        times: int = 1,
        reason: str | None = None,
        path_prefix: str | None = None,
        user_id: str | None = None,
        skip: int = 0,
        method: str | None = None,
    ) -> None:
        """The next `times` matching requests (after `skip` matching ones pass) answer 429 with `Retry-After`."""
        self._rate_limits.append(_RateLimit(retry_after, times, reason, path_prefix, user_id, skip, method))

    def server_errors(self, times: int) -> None:
        self._server_errors = times

    def revoke(self, user_id: str) -> None:
        """Refreshing this user's token answers `invalid_grant` (expired after 6 months, or revoked)."""
        self.revoked_users.add(user_id)

    def expire_access_tokens(self) -> None:
        past = self.clock() - timedelta(seconds=1)
        for access in self.access.values():
            access.expires_at = past

    def issue_tokens(self, user_id: str, *, scope: str = "user-read-recently-played user-top-read") -> tuple[str, str]:
        """Tokens as if the user had consented to `scope` (for tests that skip the browser flow)."""
        access = "fake-access-" + secrets.token_hex(12)
        refresh = "fake-refresh-" + secrets.token_hex(16)
        self.access[access] = _Access(user_id, self.clock() + timedelta(seconds=self.access_token_ttl), scope)
        self.refresh_tokens[refresh] = user_id
        self.refresh_scopes[refresh] = scope
        return access, refresh

    def playlists_of(self, user_id: str) -> list[FakePlaylist]:
        return [playlist for playlist in self.playlists.values() if playlist.owner_id == user_id]

    def add_playlist(self, owner_id: str, name: str, *, public: bool = False, items: int = 0) -> FakePlaylist:
        """A playlist that already exists in the owner's account (`items` tracks of the catalogue)."""
        playlist = FakePlaylist(spotify_id("playlist", f"{owner_id}|{len(self.playlists)}|{name}"), owner_id, name,
                                None, public)  # fmt: skip
        playlist.items = [f"spotify:track:{track.id}" for track in self.ensure_catalog(items)[:items]]
        self.playlists[playlist.id] = playlist
        return playlist

    def load_plays(self, user_id: str, plays: list[FakePlay]) -> None:
        """Plays of a user, past and future (a future play becomes visible when the clock passes it)."""
        with self._lock:
            self.users[user_id].plays.extend(plays)
            self.users[user_id].plays.sort(key=lambda play: play.played_at)

    def calls_for(self, path: str, user_id: str | None = None, method: str | None = None) -> list[RecordedCall]:
        return [
            call
            for call in self.calls
            if call.path == path
            and (user_id is None or call.user_id == user_id)
            and (method is None or call.method == method)
        ]

    # ==============================================================================================
    # Accounts service
    # ==============================================================================================
    async def _authorize(self, request: Request) -> Response:
        params = request.query_params
        if self.authorize_error:
            return HTMLResponse(f"<h1>Oops! Something went wrong</h1><p>{self.authorize_error}</p>", 400)
        if params.get("client_id") != self.client_id:
            return HTMLResponse("<h1>INVALID_CLIENT: Invalid client</h1>", 400)
        redirect_uri = params.get("redirect_uri", "")
        if not (redirect_uri.startswith(("https://", "http://127.0.0.1", "http://[::1]"))):
            return HTMLResponse("<h1>INVALID_CLIENT: Insecure redirect URI</h1>", 400)
        if (
            params.get("response_type") != "code"
            or params.get("code_challenge_method") != "S256"
            or not params.get("code_challenge")
        ):
            return HTMLResponse("<h1>Illegal parameters (PKCE S256 expected)</h1>", 400)
        state = params.get("state", "")
        if self.deny_consent:
            return RedirectResponse(f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}", 302)
        user_id = self.login_as or next(iter(self.users), None)
        if user_id is None:
            return HTMLResponse("<h1>No account to log in with</h1>", 400)
        code = "fake-code-" + secrets.token_hex(12)
        self.codes[code] = _Code(user_id, redirect_uri, params["code_challenge"], params.get("scope", ""))
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", 302)

    def _client_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return client_id == self.client_id and secret == self.client_secret

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        grant = str(form.get("grant_type", ""))
        self.token_grants.append(grant)
        self.token_grant_times.append(self.clock())
        if self.quota_counts_token_requests:
            refused = self._quota("/api/token", None)
            if refused is not None:
                return refused
        if not self._client_ok(request):
            return JSONResponse({"error": "invalid_client", "error_description": "Invalid client"}, 400)
        if grant == "authorization_code":
            code = self.codes.get(str(form.get("code", "")))
            if code is None or code.used:
                return JSONResponse({"error": "invalid_grant", "error_description": "Invalid authorization code"}, 400)
            code.used = True
            if form.get("redirect_uri") != code.redirect_uri:
                return JSONResponse({"error": "invalid_grant", "error_description": "Invalid redirect URI"}, 400)
            verifier = str(form.get("code_verifier", ""))
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge != code.challenge:
                return JSONResponse({"error": "invalid_grant", "error_description": "code_verifier was incorrect"}, 400)
            access, refresh = self.issue_tokens(code.user_id, scope=code.scope)
            return JSONResponse(
                {
                    "access_token": access,
                    "token_type": "Bearer",
                    "scope": code.scope,
                    "expires_in": self.access_token_ttl,
                    "refresh_token": refresh,
                }
            )
        if grant == "refresh_token":
            user_id = self.refresh_tokens.get(str(form.get("refresh_token", "")))
            if user_id is None or user_id in self.revoked_users:
                return JSONResponse({"error": "invalid_grant", "error_description": "Refresh token revoked"}, 400)
            # A refreshed token carries the scope the user granted (refreshing never widens it).
            old_refresh = str(form.get("refresh_token", ""))
            granted = self.refresh_scopes.get(old_refresh, "user-read-recently-played user-top-read")
            access = "fake-access-" + secrets.token_hex(12)
            self.access[access] = _Access(user_id, self.clock() + timedelta(seconds=self.access_token_ttl), granted)
            if self.rotate_refresh_tokens:
                del self.refresh_tokens[old_refresh]
                rotated = "fake-refresh-" + secrets.token_hex(16)
                self.refresh_tokens[rotated] = user_id
                self.refresh_scopes[rotated] = granted
                return JSONResponse(
                    {
                        "access_token": access,
                        "token_type": "Bearer",
                        "scope": granted,
                        "expires_in": self.access_token_ttl,
                        "refresh_token": rotated,
                    }
                )
            return JSONResponse(
                {"access_token": access, "token_type": "Bearer", "scope": granted, "expires_in": self.access_token_ttl}
            )
        if grant == "client_credentials":
            access = "fake-app-" + secrets.token_hex(12)
            self.access[access] = _Access(None, self.clock() + timedelta(seconds=self.access_token_ttl))
            return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": self.access_token_ttl})
        return JSONResponse({"error": "unsupported_grant_type", "error_description": f"grant_type {grant!r}"}, 400)

    # ==============================================================================================
    # Web API plumbing
    # ==============================================================================================
    @staticmethod
    def _error(
        status: int, message: str, headers: dict[str, str] | None = None, reason: str | None = None
    ) -> JSONResponse:
        error: JsonObject = {"status": status, "message": message}
        if reason:
            error["reason"] = reason
        return JSONResponse({"error": error}, status, headers=headers)

    async def _gate(
        self, request: Request, *, user_required: bool = True, scopes: tuple[str, ...] = ()
    ) -> tuple[str | None, Response | None]:
        """Authenticate and apply behaviours. Returns (user id, error response or None)."""
        if self.delay_seconds:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                await asyncio.sleep(self.delay_seconds)
            finally:
                self.in_flight -= 1
        path = request.url.path
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        access = self.access.get(token)
        user_id = access.user_id if access else None

        def record(status: int) -> None:
            self.calls.append(
                RecordedCall(path, dict(request.query_params), user_id, status, self.clock(), request.method)
            )

        refused = self._quota(path, user_id, dict(request.query_params))
        if refused is not None:
            return None, refused
        if access is None:
            record(401)
            return None, self._error(401, "Invalid access token")
        if access.expires_at <= self.clock():
            record(401)
            return None, self._error(401, "The access token expired")
        with self._lock:
            if self._server_errors > 0:
                self._server_errors -= 1
                record(503)
                return None, self._error(503, "Service unavailable")
            for limit in self._rate_limits:
                if (
                    limit.times > 0
                    and (limit.path_prefix is None or path.startswith(limit.path_prefix))
                    and (limit.user_id is None or limit.user_id == user_id)
                    and (limit.method is None or limit.method == request.method)
                ):
                    if limit.skip > 0:
                        limit.skip -= 1
                        continue
                    limit.times -= 1
                    record(429)
                    return None, self._error(
                        429, "API rate limit exceeded", {"Retry-After": str(limit.retry_after)}, limit.reason
                    )
        if user_id is not None and user_id in self.not_allow_listed:
            record(403)
            return None, self._error(403, "User not registered in the Developer Dashboard")
        if user_required and user_id is None:
            record(403)
            return None, self._error(403, "This endpoint needs a user token")
        if scopes and not set(scopes) & set(access.scope.split()):
            record(403)
            return None, self._error(403, "Insufficient client scope")
        record(200)
        return user_id, None

    def _quota(self, path: str, user_id: str | None, params: dict[str, str] | None = None) -> Response | None:
        """Count one request against the app's rolling 24 h quota; a 429 QUOTA_EXCEEDED once it is spent."""
        if self.quota_per_day is None:
            return None
        now = self.clock()
        with self._lock:
            if self.quota_blocked_until is not None and self.quota_blocked_until <= now:
                self.quota_blocked_until = None
                self._quota_window.clear()
            while self._quota_window and self._quota_window[0] <= now - timedelta(hours=24):
                self._quota_window.popleft()
            if self.quota_blocked_until is None:
                if len(self._quota_window) < self.quota_per_day:
                    self._quota_window.append(now)
                    return None
                self.quota_blocked_until = now + timedelta(seconds=self.quota_retry_after)
            wait = int((self.quota_blocked_until - now).total_seconds()) + 1
            self.quota_refusals.append(now)
        if path != "/api/token":
            self.calls.append(RecordedCall(path, params or {}, user_id, 429, now))
        return self._error(429, "API rate limit exceeded", {"Retry-After": str(wait)}, "QUOTA_EXCEEDED")

    def _restricted(self) -> bool:
        return self.mode == "new_app"

    # Objects -------------------------------------------------------------------------------------------
    def _simple_artist(self, artist: FakeArtist) -> JsonObject:
        return {
            "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist.id}"},
            "href": f"https://api.spotify.com/v1/artists/{artist.id}",
            "id": artist.id,
            "name": artist.name,
            "type": "artist",
            "uri": f"spotify:artist:{artist.id}",
        }

    def artist_object(self, artist: FakeArtist) -> JsonObject:
        body = self._simple_artist(artist)
        body["images"] = [{"url": f"https://i.scdn.co/image/{artist.id}", "height": 640, "width": 640}]
        body["genres"] = list(artist.genres)
        if not self._restricted():
            body["popularity"] = 50
            body["followers"] = {"href": None, "total": 1234}
        return body

    def track_object(self, track: FakeTrack) -> JsonObject:
        artists = [self._simple_artist(self.artists[artist_id]) for artist_id in track.artist_ids]
        album: JsonObject = {
            "album_type": "album",
            "total_tracks": 10,
            "available_markets": MARKETS,
            "external_urls": {"spotify": f"https://open.spotify.com/album/{track.album_id}"},
            "href": f"https://api.spotify.com/v1/albums/{track.album_id}",
            "id": track.album_id,
            "images": [{"url": f"https://i.scdn.co/image/{track.album_id}", "height": 300, "width": 300}],
            "name": track.album_name,
            "release_date": "2024-05-17",
            "release_date_precision": "day",
            "type": "album",
            "uri": f"spotify:album:{track.album_id}",
            "artists": artists[:1],
        }
        body: JsonObject = {
            "album": album,
            "artists": artists,
            "available_markets": MARKETS,
            "disc_number": 1,
            "duration_ms": track.duration_ms,
            "explicit": track.explicit,
            "external_ids": {"isrc": f"DE{track.id[:10].upper()}"},
            "external_urls": {"spotify": f"https://open.spotify.com/track/{track.id}"},
            "href": f"https://api.spotify.com/v1/tracks/{track.id}",
            "id": track.id,
            "is_local": False,
            "name": track.name,
            "preview_url": None,
            "track_number": 1,
            "type": "track",
            "uri": f"spotify:track:{track.id}",
        }
        if not self._restricted():
            body["popularity"] = 42
        return body

    @staticmethod
    def audio_features_object(track: FakeTrack) -> JsonObject:
        seed = int(hashlib.sha1(track.id.encode()).hexdigest()[:6], 16)
        return {
            "acousticness": (seed % 100) / 100,
            "analysis_url": f"https://api.spotify.com/v1/audio-analysis/{track.id}",
            "danceability": ((seed // 7) % 100) / 100,
            "duration_ms": track.duration_ms,
            "energy": ((seed // 11) % 100) / 100,
            "id": track.id,
            "instrumentalness": ((seed // 13) % 100) / 100,
            "key": seed % 12,
            "liveness": ((seed // 17) % 100) / 100,
            "loudness": -((seed // 19) % 20) - 1.5,
            "mode": seed % 2,
            "speechiness": ((seed // 23) % 100) / 100,
            "tempo": 80 + (seed % 80) + 0.5,
            "time_signature": 4,
            "track_href": f"https://api.spotify.com/v1/tracks/{track.id}",
            "type": "audio_features",
            "uri": f"spotify:track:{track.id}",
            "valence": ((seed // 29) % 100) / 100,
        }

    def _paging(self, request: Request, items: list[JsonObject], limit: int, offset: int) -> JsonObject:
        page = items[offset : offset + limit]
        base = f"https://api.spotify.com{request.url.path}"
        nxt = f"{base}?offset={offset + limit}&limit={limit}" if offset + limit < len(items) else None
        prev = f"{base}?offset={max(0, offset - limit)}&limit={limit}" if offset > 0 else None
        return {
            "href": f"{base}?offset={offset}&limit={limit}",
            "items": page,
            "limit": limit,
            "next": nxt,
            "offset": offset,
            "previous": prev,
            "total": len(items),
        }

    @staticmethod
    def _int(request: Request, name: str, default: int, low: int, high: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            return None
        return value if low <= value <= high else None

    # ==============================================================================================
    # Web API endpoints
    # ==============================================================================================
    async def _me(self, request: Request) -> Response:
        user_id, error = await self._gate(request)
        if error:
            return error
        assert user_id is not None
        user = self.users[user_id]
        body: JsonObject = {
            "display_name": user.display_name,
            "external_urls": {"spotify": f"https://open.spotify.com/user/{user.id}"},
            "href": f"https://api.spotify.com/v1/users/{user.id}",
            "id": user.id,
            "images": [],
            "type": "user",
            "uri": f"spotify:user:{user.id}",
        }
        if not self._restricted():
            body |= {
                "email": user.email,
                "country": "DE",
                "product": "premium",
                "followers": {"href": None, "total": 3},
            }
        return JSONResponse(body)

    async def _recently_played(self, request: Request) -> Response:
        user_id, error = await self._gate(request)
        if error:
            return error
        assert user_id is not None
        limit = self._int(request, "limit", 20, 1, 50)
        if limit is None:
            return self._error(400, "Invalid limit")
        after_raw, before_raw = request.query_params.get("after"), request.query_params.get("before")
        if self.ignore_cursors:
            after_raw = before_raw = None
        if after_raw is not None and before_raw is not None:
            return self._error(400, "Only one of after and before may be given")
        with self._lock:
            plays = self.users[user_id].plays  # kept sorted by played_at
            # Only plays that have happened by a virtual clock (a simulation loads the future up front).
            visible = (
                bisect.bisect_right(plays, self.clock(), key=lambda play: play.played_at)
                if self._hide_future_plays
                else len(plays)
            )
            window = plays[max(0, visible - WINDOW) : visible]
        try:
            if after_raw is not None:
                after = int(after_raw)
                newer = [play for play in window if to_ms(play.played_at) > after]
                chosen = newer[:limit]
            elif before_raw is not None:
                before = int(before_raw)
                older = [play for play in window if to_ms(play.played_at) < before]
                chosen = older[-limit:] if older else []
            else:
                chosen = window[-limit:]
        except ValueError:
            return self._error(400, "after/before must be Unix milliseconds")
        chosen = sorted(chosen, key=lambda play: play.played_at, reverse=True)
        items = [
            {
                "track": self.track_object(self.tracks[play.track_id]),
                "played_at": iso_ms(play.played_at),
                "context": {
                    "type": (play.context_uri or "spotify:album:x").split(":")[1],
                    "href": "https://api.spotify.com/v1/"
                    + (play.context_uri or "").replace("spotify:", "").replace(":", "s/"),
                    "external_urls": {"spotify": "https://open.spotify.com/"},
                    "uri": play.context_uri or "",
                },
            }
            for play in chosen
        ]
        body: JsonObject = {
            "href": str(request.url).replace(str(request.base_url).rstrip("/"), "https://api.spotify.com"),
            "limit": limit,
            "cursors": {},
            "items": items,
        }
        if chosen:
            newest, oldest = to_ms(chosen[0].played_at), to_ms(chosen[-1].played_at)
            body["cursors"] = {"after": str(newest), "before": str(oldest)}
            if len(chosen) == limit:
                body["next"] = f"https://api.spotify.com/v1/me/player/recently-played?before={oldest}&limit={limit}"
        return JSONResponse(body)

    async def _top(self, request: Request) -> Response:
        user_id, error = await self._gate(request)
        if error:
            return error
        assert user_id is not None
        kind = request.path_params["kind"]
        if kind not in ("tracks", "artists"):
            return self._error(404, "Not found")
        if request.query_params.get("time_range", "medium_term") not in ("short_term", "medium_term", "long_term"):
            return self._error(400, "Invalid time range")
        limit = self._int(request, "limit", 20, 1, 50)
        offset = self._int(request, "offset", 0, 0, 10_000)
        if limit is None or offset is None:
            return self._error(400, "Invalid limit or offset")
        counts: dict[str, int] = {}
        for play in self.users[user_id].plays:
            counts[play.track_id] = counts.get(play.track_id, 0) + 1
        ranked_tracks = sorted(counts, key=lambda track_id: -counts[track_id])
        if kind == "tracks":
            items = [self.track_object(self.tracks[track_id]) for track_id in ranked_tracks]
        else:
            seen: list[str] = []
            for track_id in ranked_tracks:
                seen += [artist for artist in self.tracks[track_id].artist_ids if artist not in seen]
            items = [self.artist_object(self.artists[artist_id]) for artist_id in seen]
        return JSONResponse(self._paging(request, items, limit, offset))

    async def _search(self, request: Request) -> Response:
        _, error = await self._gate(request, user_required=False)
        if error:
            return error
        q = request.query_params.get("q", "").strip()
        types = [part for part in request.query_params.get("type", "").split(",") if part]
        if not q or not types:
            return self._error(400, "No search query" if not q else "Missing parameter type")
        limit = self._int(request, "limit", 5 if self._restricted() else 20, 1, 10 if self._restricted() else 50)
        offset = self._int(request, "offset", 0, 0, 1000)
        if limit is None or offset is None:
            return self._error(400, "Invalid limit")
        terms = _search_terms(q)
        body: JsonObject = {}
        if "track" in types:
            found = [
                track
                for track in self.tracks.values()
                if _matches(terms, track.name, [self.artists[a].name for a in track.artist_ids], track.album_name)
            ]
            body["tracks"] = self._paging(request, [self.track_object(track) for track in found], limit, offset)
        if "artist" in types:
            found_artists = [artist for artist in self.artists.values() if _matches(terms, None, [artist.name], None)]
            body["artists"] = self._paging(
                request, [self.artist_object(artist) for artist in found_artists], limit, offset
            )
        return JSONResponse(body)

    def _ids(self, request: Request, most: int) -> list[str] | None:
        ids = [part for part in request.query_params.get("ids", "").split(",") if part]
        return ids if 0 < len(ids) <= most else None

    async def _tracks(self, request: Request) -> Response:
        _, error = await self._gate(request, user_required=False)
        if error:
            return error
        if self._restricted():
            return self._error(403, "Forbidden")
        ids = self._ids(request, 50)
        if ids is None:
            return self._error(400, "Invalid ids")
        return JSONResponse({"tracks": [self.track_object(self.tracks[i]) if i in self.tracks else None for i in ids]})

    async def _track(self, request: Request) -> Response:
        _, error = await self._gate(request, user_required=False)
        if error:
            return error
        track = self.tracks.get(request.path_params["id"])
        return JSONResponse(self.track_object(track)) if track else self._error(404, "Resource not found")

    async def _artists(self, request: Request) -> Response:
        _, error = await self._gate(request, user_required=False)
        if error:
            return error
        if self._restricted():
            return self._error(403, "Forbidden")
        ids = self._ids(request, 50)
        if ids is None:
            return self._error(400, "Invalid ids")
        return JSONResponse(
            {"artists": [self.artist_object(self.artists[i]) if i in self.artists else None for i in ids]}
        )

    async def _artist(self, request: Request) -> Response:
        _, error = await self._gate(request, user_required=False)
        if error:
            return error
        artist = self.artists.get(request.path_params["id"])
        return JSONResponse(self.artist_object(artist)) if artist else self._error(404, "Resource not found")

    async def _audio_features_many(self, request: Request) -> Response:
        _, error = await self._gate(request, user_required=False)
        if error:
            return error
        if self._restricted():
            return self._error(403, "Forbidden")
        ids = self._ids(request, 100)
        if ids is None:
            return self._error(400, "Invalid ids")
        return JSONResponse(
            {"audio_features": [self.audio_features_object(self.tracks[i]) if i in self.tracks else None for i in ids]}
        )

    async def _audio_features_one(self, request: Request) -> Response:
        _, error = await self._gate(request, user_required=False)
        if error:
            return error
        if self._restricted():
            return self._error(403, "Forbidden")
        track = self.tracks.get(request.path_params["id"])
        return JSONResponse(self.audio_features_object(track)) if track else self._error(404, "Resource not found")

    # Playlists (2026 paths) ------------------------------------------------------------------------------
    def playlist_object(self, playlist: FakePlaylist, *, full: bool = False) -> JsonObject:
        owner = self.users.get(playlist.owner_id)
        body: JsonObject = {
            "collaborative": False,
            "description": playlist.description or "",
            "external_urls": {"spotify": f"https://open.spotify.com/playlist/{playlist.id}"},
            "href": f"https://api.spotify.com/v1/playlists/{playlist.id}",
            "id": playlist.id,
            "images": [],
            "name": playlist.name,
            "owner": {
                "display_name": owner.display_name if owner else None,
                "external_urls": {"spotify": f"https://open.spotify.com/user/{playlist.owner_id}"},
                "href": f"https://api.spotify.com/v1/users/{playlist.owner_id}",
                "id": playlist.owner_id,
                "type": "user",
                "uri": f"spotify:user:{playlist.owner_id}",
            },
            "public": playlist.public,
            "snapshot_id": self._snapshot(playlist),
            "type": "playlist",
            "uri": f"spotify:playlist:{playlist.id}",
        }
        items_href = f"https://api.spotify.com/v1/playlists/{playlist.id}/items"
        if full:
            body["items"] = {"href": items_href, "items": [], "limit": 100, "next": None, "offset": 0,
                             "previous": None, "total": len(playlist.items)}  # fmt: skip
        else:
            body["items"] = {"href": items_href, "total": len(playlist.items)}
        return body

    @staticmethod
    def _snapshot(playlist: FakePlaylist) -> str:
        return base64.b64encode(f"{playlist.snapshots},{playlist.id}".encode()).decode()

    async def _my_playlists(self, request: Request) -> Response:
        user_id, error = await self._gate(request)
        if error:
            return error
        assert user_id is not None
        limit = self._int(request, "limit", 20, 1, 50)
        offset = self._int(request, "offset", 0, 0, 100_000)
        if limit is None or offset is None:
            return self._error(400, "Invalid limit or offset")
        scope = self.access[request.headers["authorization"][7:]].scope.split()
        # Owned and followed playlists; private ones only with playlist-read-private (as Spotify does). The fake's
        # users follow each other's public playlists, so the list holds some the user does not own.
        visible = [
            playlist
            for playlist in self.playlists.values()
            if (playlist.owner_id == user_id and (playlist.public or "playlist-read-private" in scope))
            or (playlist.owner_id != user_id and playlist.public)
        ]
        items = [self.playlist_object(playlist) for playlist in reversed(visible)]
        return JSONResponse(self._paging(request, items, limit, offset))

    async def _create_playlist(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        public = body.get("public", True) if isinstance(body, dict) else True
        scope = "playlist-modify-public" if public is not False else "playlist-modify-private"
        user_id, error = await self._gate(request, scopes=(scope,))
        if error:
            return error
        assert user_id is not None
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            return self._error(400, "Missing required field: name")
        with self._lock:
            playlist = FakePlaylist(
                spotify_id("playlist", f"{user_id}|{len(self.playlists)}|{body['name']}"),
                user_id,
                body["name"],
                body.get("description") if isinstance(body.get("description"), str) else None,
                public is not False,
            )
            self.playlists[playlist.id] = playlist
        return JSONResponse(self.playlist_object(playlist, full=True), 201)

    async def _playlist(self, request: Request) -> Response:
        _, error = await self._gate(request, user_required=False)
        if error:
            return error
        playlist = self.playlists.get(request.path_params["id"])
        if playlist is None:
            return self._error(404, "Resource not found")
        return JSONResponse(self.playlist_object(playlist, full=True))

    async def _playlist_items(self, request: Request) -> Response:
        user_id, error = await self._gate(request)
        if error:
            return error
        playlist = self.playlists.get(request.path_params["id"])
        if playlist is None:
            return self._error(404, "Resource not found")
        if playlist.owner_id != user_id:
            return self._error(403, "Forbidden")
        limit = self._int(request, "limit", 100, 1, 100)
        offset = self._int(request, "offset", 0, 0, 100_000)
        if limit is None or offset is None:
            return self._error(400, "Invalid limit or offset")
        items: list[JsonObject] = [
            {
                "added_at": iso_ms(self.clock()),
                "is_local": False,
                "item": self.track_object(self.tracks[uri.rsplit(":", 1)[-1]]),
            }
            for uri in playlist.items
            if uri.rsplit(":", 1)[-1] in self.tracks
        ]
        return JSONResponse(self._paging(request, items, limit, offset))

    async def _add_playlist_items(self, request: Request) -> Response:
        playlist = self.playlists.get(request.path_params["id"])
        needed = "playlist-modify-public" if playlist is None or playlist.public else "playlist-modify-private"
        user_id, error = await self._gate(request, scopes=(needed,))
        if error:
            return error
        if playlist is None:
            return self._error(404, "Resource not found")
        if playlist.owner_id != user_id:
            return self._error(403, "You cannot add tracks to a playlist you don't own.")
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "Invalid JSON")
        uris = body.get("uris") if isinstance(body, dict) else None
        if not isinstance(uris, list) or not uris:
            return self._error(400, "No uris provided")
        if len(uris) > 100:
            return self._error(400, "You can add a maximum of 100 tracks per request.")
        for uri in uris:
            if not isinstance(uri, str) or not uri.startswith(("spotify:track:", "spotify:episode:")):
                return self._error(400, f"Invalid track uri: {uri}")
            if uri.startswith("spotify:track:") and uri.rsplit(":", 1)[-1] not in self.tracks:
                return self._error(400, "Payload contains a non-existing ID")
        with self._lock:
            playlist.items.extend(uris)
            playlist.snapshots += 1
        return JSONResponse({"snapshot_id": self._snapshot(playlist)}, 201)


def _search_terms(q: str) -> dict[str, str]:
    """Spotify's field filters (`track:"x" artist:"y"`) and free text, lower-cased."""
    terms: dict[str, str] = {}
    rest = q
    for name in ("track", "artist", "album"):
        marker = f'{name}:"'
        if marker in rest:
            start = rest.index(marker) + len(marker)
            end = rest.find('"', start)
            end = len(rest) if end < 0 else end
            terms[name] = rest[start:end].lower()
            rest = rest[: start - len(marker)] + rest[end + 1 :]
    if rest.strip():
        terms["text"] = rest.strip().lower()
    return terms


def _matches(terms: dict[str, str], name: str | None, artists: list[str], album: str | None) -> bool:
    if "track" in terms and (name is None or terms["track"] not in name.lower()):
        return False
    if "artist" in terms and not any(terms["artist"] in artist.lower() for artist in artists):
        return False
    if "album" in terms and (album is None or terms["album"] not in album.lower()):
        return False
    if "text" in terms:
        haystack = " ".join([name or "", *artists, album or ""]).lower()
        return all(word in haystack for word in terms["text"].split())
    return True


# ==================================================================================================
# Helpers for tests that use the fake with the real system
# ==================================================================================================
TEST_CLIENT_ID = "fake-client-id"
TEST_CLIENT_SECRET = "fake-client-secret"


def spotify_env(database_url: str, fake_base_url: str, key: str, **overrides: str) -> dict[str, str]:
    """Environment for a process (or `load_settings`) that talks to the fake and the test database."""
    env = {
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": key,
        "ADMIN_TOKEN": "test-admin-token-0123456789",
        "SPOTIFY_CLIENT_ID": TEST_CLIENT_ID,
        "SPOTIFY_CLIENT_SECRET": TEST_CLIENT_SECRET,
        "SPOTIFY_ACCOUNTS_BASE_URL": fake_base_url,
        "SPOTIFY_API_BASE_URL": f"{fake_base_url}/v1",
        "SPOTIFY_TIMEOUT_SECONDS": "5",
        "COLLECTOR_INTERVAL_SECONDS": "600",
    }
    env.update(overrides)
    return env


def connect_user(
    database_url: str,
    cipher: TokenCipher,
    fake: FakeSpotify,
    spotify_user_id: str,
    *,
    access_token_valid: bool = True,
    plays: int = 0,
    scope: str = "user-read-recently-played",
) -> tuple[UUID, str]:
    """A user as `/auth/callback` leaves them: profile, encrypted tokens, a due checkpoint.

    Returns (user id, the plaintext refresh token the fake issued — for leak checks)."""
    if spotify_user_id not in fake.users:
        fake.add_user(spotify_user_id)
    if plays:
        fake.add_plays(spotify_user_id, plays)
    access, refresh = fake.issue_tokens(spotify_user_id, scope=scope)
    expires = datetime.now(UTC) + (timedelta(hours=1) if access_token_valid else -timedelta(minutes=5))
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        row = connection.execute(
            "INSERT INTO app.users (spotify_user_id, display_name) VALUES (%s, %s) RETURNING id",
            (spotify_user_id, fake.users[spotify_user_id].display_name),
        ).fetchone()
        assert row is not None
        user_id: UUID = row[0]
        connection.execute(
            "INSERT INTO app.spotify_tokens (user_id, refresh_token_enc, access_token_enc, access_token_expires_at, "
            "scope, token_type, client_id, refresh_token_expires_at) "
            "VALUES (%s, %s, %s, %s, %s, 'Bearer', %s, now() + interval '6 months')",
            (
                user_id,
                cipher.encrypt(refresh),
                cipher.encrypt(access),
                expires,
                scope,
                TEST_CLIENT_ID,
            ),
        )
        connection.execute("INSERT INTO app.sync_checkpoints (user_id) VALUES (%s)", (user_id,))
    return user_id, refresh
