"""Everything the collector shares across users for talking to Spotify: one HTTP client, the accounts
service, the removed-endpoint memory of this app, the global concurrency limit, the installation's request
budget, a stop-aware sleep and the collector's clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from uuid import UUID

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import TokenCipher
from core.settings import Settings
from core.spotify.accounts import SpotifyAccounts
from core.spotify.budget import Clock, DatabaseBudget, Purpose, utcnow
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
    budget: DatabaseBudget
    clock: Clock = utcnow
    _app_tokens: AppTokens | None = field(default=None, init=False)

    @classmethod
    async def create(
        cls,
        engine: AsyncEngine,
        settings: Settings,
        cipher: TokenCipher,
        http: httpx.AsyncClient,
        *,
        budget: DatabaseBudget,
        policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        clock: Clock = utcnow,
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
            budget=budget,
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
            budget=budget,
            clock=clock,
        )

    def _client(self, tokens: UserTokens | AppTokens, purpose: Purpose, user_id: UUID | None) -> SpotifyClient:
        return SpotifyClient(
            self.http,
            tokens,
            base_url=str(self.settings.spotify_api_base_url),
            endpoints=self.endpoints,
            policy=self.policy,
            semaphore=self.semaphore,
            timeout=self.settings.spotify_timeout_seconds,
            sleep=self.sleep,
            budget=self.budget,
            purpose=purpose,
            user_id=user_id,
        )

    def user_client(self, user_id: UUID, purpose: Purpose = Purpose.polling) -> SpotifyClient:
        tokens = UserTokens(self.engine, self.cipher, self.accounts, user_id, clock=self.clock)
        return self._client(tokens, purpose, user_id)

    def app_client(self, purpose: Purpose = Purpose.enrichment) -> SpotifyClient:
        """Catalogue calls with the app's client-credentials token (no user needed)."""
        if self._app_tokens is None:
            self._app_tokens = AppTokens(self.accounts, clock=self.clock)
        return self._client(self._app_tokens, purpose, None)
