"""Everything the collector shares across users for talking to Spotify: one HTTP client, the accounts
service, the removed-endpoint memory of this app, the global concurrency limit, and a stop-aware sleep."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from uuid import UUID

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import TokenCipher
from core.settings import Settings
from core.spotify.accounts import SpotifyAccounts
from core.spotify.client import Sleep, SpotifyClient
from core.spotify.endpoints import DatabaseEndpointMemory
from core.spotify.policy import RetryPolicy
from core.spotify.tokens import AppTokens, UserTokens


@dataclass
class SpotifyApp:
    engine: AsyncEngine
    settings: Settings
    cipher: TokenCipher
    http: httpx.AsyncClient
    accounts: SpotifyAccounts
    endpoints: DatabaseEndpointMemory
    semaphore: asyncio.Semaphore
    policy: RetryPolicy
    sleep: Sleep
    _app_tokens: AppTokens | None = field(default=None, init=False)

    @classmethod
    async def create(
        cls,
        engine: AsyncEngine,
        settings: Settings,
        cipher: TokenCipher,
        http: httpx.AsyncClient,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
    ) -> SpotifyApp:
        if (
            not settings.spotify_configured
            or settings.spotify_client_id is None
            or settings.spotify_client_secret is None
        ):
            raise ValueError("SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET must be set to talk to Spotify")
        policy = policy or RetryPolicy()
        accounts = SpotifyAccounts(
            http,
            base_url=str(settings.spotify_accounts_base_url),
            client_id=settings.spotify_client_id,
            client_secret=settings.spotify_client_secret.get_secret_value(),
            policy=policy,
            timeout=settings.spotify_timeout_seconds,
        )
        endpoints = await DatabaseEndpointMemory.load(engine, settings.spotify_client_id)
        return cls(
            engine=engine,
            settings=settings,
            cipher=cipher,
            http=http,
            accounts=accounts,
            endpoints=endpoints,
            semaphore=asyncio.Semaphore(settings.spotify_max_concurrency),
            policy=policy,
            sleep=sleep or asyncio.sleep,
        )

    def _client(self, tokens: UserTokens | AppTokens) -> SpotifyClient:
        return SpotifyClient(
            self.http,
            tokens,
            base_url=str(self.settings.spotify_api_base_url),
            endpoints=self.endpoints,
            policy=self.policy,
            semaphore=self.semaphore,
            timeout=self.settings.spotify_timeout_seconds,
            sleep=self.sleep,
        )

    def user_client(self, user_id: UUID) -> SpotifyClient:
        return self._client(UserTokens(self.engine, self.cipher, self.accounts, user_id))

    def app_client(self) -> SpotifyClient:
        """Catalogue calls with the app's client-credentials token (no user needed)."""
        if self._app_tokens is None:
            self._app_tokens = AppTokens(self.accounts)
        return self._client(self._app_tokens)
