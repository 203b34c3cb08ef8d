"""Spotify's accounts service: the authorize URL (PKCE), code exchange, refresh, client credentials.

Every token request is counted against the installation's request budget (purpose `token`, the highest
priority); a 429 with a long Retry-After or QUOTA_EXCEEDED stops the installation like any other request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from urllib.parse import urlencode
from uuid import UUID

import httpx
from pydantic import ValidationError

from core.spotify.budget import Purpose, RequestBudget, Unmetered
from core.spotify.errors import InvalidGrant, QuotaBlocked, SpotifyAuthError, SpotifyUnavailable
from core.spotify.models import TokenResponse
from core.spotify.policy import RetryPolicy, parse_retry_after

# Writing playlists (the spotify.create_playlist / add_to_playlist tools) and listing private ones
# (spotify.list_playlists). Users who connected before these were asked lack them until they reconnect.
PLAYLIST_WRITE_SCOPES: tuple[str, ...] = ("playlist-modify-private", "playlist-modify-public")
PLAYLIST_SCOPES: tuple[str, ...] = (*PLAYLIST_WRITE_SCOPES, "playlist-read-private")

# The spec's scopes (§4): the two needed ones and the two optional ones; then the playlist scopes.
SCOPES: tuple[str, ...] = (
    "user-read-recently-played",
    "user-top-read",
    "user-read-email",
    "user-read-private",
    *PLAYLIST_SCOPES,
)


def new_code_verifier() -> str:
    """A PKCE code verifier: 64 url-safe characters (RFC 7636 allows 43-128)."""
    return secrets.token_urlsafe(48)


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class SpotifyAccounts:
    """Talks to `SPOTIFY_ACCOUNTS_BASE_URL` with the app's client id and secret (HTTP basic auth)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        policy: RetryPolicy | None = None,
        timeout: float = 20.0,
        budget: RequestBudget | None = None,
    ) -> None:
        if not client_id or not client_secret:
            raise SpotifyAuthError("SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET are required to talk to Spotify")
        self._http = http
        self._base = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._policy = policy or RetryPolicy()
        self._timeout = timeout
        self.budget: RequestBudget = budget if budget is not None else Unmetered()

    def authorize_url(self, *, state: str, challenge: str, redirect_uri: str, scopes: tuple[str, ...] = SCOPES) -> str:
        query = urlencode(
            {
                "client_id": self.client_id,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "code_challenge_method": "S256",
                "code_challenge": challenge,
                "state": state,
                "scope": " ".join(scopes),
            }
        )
        return f"{self._base}/authorize?{query}"

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> TokenResponse:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )

    async def refresh(self, refresh_token: str, *, user_id: UUID | None = None) -> TokenResponse:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token}, user_id)

    async def client_credentials(self) -> TokenResponse:
        return await self._token({"grant_type": "client_credentials"})

    async def _token(self, form: dict[str, str], user_id: UUID | None = None) -> TokenResponse:
        basic = base64.b64encode(f"{self.client_id}:{self._secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
        attempt = 0
        while True:
            attempt += 1
            await self.budget.spend(Purpose.token, "POST /api/token", user_id)
            try:
                response = await self._http.post(
                    f"{self._base}/api/token", data=form, headers=headers, timeout=self._timeout
                )
            except httpx.TimeoutException, httpx.TransportError:
                if attempt >= self._policy.max_attempts:
                    raise SpotifyUnavailable("Spotify accounts service did not answer (timeouts)") from None
                await asyncio.sleep(self._policy.backoff(attempt))
                continue
            if response.status_code == 429:
                retry_after = parse_retry_after(response.headers.get("retry-after"), self._policy.default_retry_after)
                if retry_after > self._policy.max_inline_wait or "QUOTA_EXCEEDED" in response.text:
                    until = await self.budget.block(retry_after, reason=_reason(response), endpoint="POST /api/token")
                    raise QuotaBlocked(
                        until, retry_after=retry_after, reason=_reason(response), endpoint="POST /api/token"
                    )
                if attempt >= self._policy.max_attempts:
                    raise SpotifyUnavailable("Spotify accounts service kept answering 429 (rate limited)")
                await asyncio.sleep(retry_after)
                continue
            if response.status_code >= 500:
                if attempt >= self._policy.max_attempts:
                    raise SpotifyUnavailable(f"Spotify accounts service answered {response.status_code}")
                await asyncio.sleep(self._policy.backoff(attempt))
                continue
            break
        if response.status_code != 200:
            error, description = _oauth_error(response)
            if error == "invalid_grant":
                raise InvalidGrant(f"Spotify refused the grant: {description or error}")
            raise SpotifyAuthError(f"Spotify accounts service answered {response.status_code}: {description or error}")
        try:
            return TokenResponse.model_validate(response.json())
        except (ValueError, ValidationError) as problem:
            raise SpotifyAuthError(f"Spotify token answer was not understood: {problem}") from None


def _reason(response: httpx.Response) -> str | None:
    return "QUOTA_EXCEEDED" if "QUOTA_EXCEEDED" in response.text else None


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "http_error", response.text[:200]
    if isinstance(body, dict):
        error, description = body.get("error"), body.get("error_description")
        return str(error or "http_error"), str(description) if description is not None else ""
    return "http_error", ""
