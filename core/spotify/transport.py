"""The transport of the typed Web API client: one request, with every rule a Spotify call obeys.

`SpotifyTransport` holds what a client shares (the `httpx.AsyncClient`, the global concurrency semaphore, the
removed-endpoint memory, the request budget) and sends requests; `SpotifyClient` (client.py) adds the endpoints.

- 5xx and timeouts: exponential backoff with jitter (`RetryPolicy`), then `SpotifyUnavailable`.
- Every request (retries too) is first counted against the installation's request budget (`budget.py`) under
  the client's purpose; a refusal raises `BudgetExhausted`/`QuotaBlocked` and nothing is sent.
- 429: sleeps `Retry-After` when it is short; a long wait or `QUOTA_EXCEEDED` stops the whole installation
  (`budget.block`) and raises `QuotaBlocked`.
- 401: the token source refreshes once and the call is repeated; a second 401 is an auth error.
- Endpoints that development-mode apps lost answer 403/404: remembered per app, never called again;
  batch methods (client.py) then fall back to single-item calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from core.spotify.budget import Purpose, RequestBudget, Unmetered
from core.spotify.endpoints import EndpointMemory, InMemoryEndpointMemory
from core.spotify.errors import (
    EndpointRemoved,
    QuotaBlocked,
    RateLimited,
    SpotifyAuthError,
    SpotifyHTTPError,
    SpotifyUnavailable,
)
from core.spotify.policy import CallStats, RetryPolicy, parse_retry_after

type Json = dict[str, object]
type Sleep = Callable[[float], Awaitable[None]]

# Endpoint keys that may be removed for an app (403/404 means "gone", not "no such item").
TRACKS_BATCH = "GET /tracks"
ARTISTS_BATCH = "GET /artists"
AUDIO_FEATURES_BATCH = "GET /audio-features"
AUDIO_FEATURES_ONE = "GET /audio-features/{id}"
REMOVABLE: frozenset[str] = frozenset({TRACKS_BATCH, ARTISTS_BATCH, AUDIO_FEATURES_BATCH, AUDIO_FEATURES_ONE})

# Transport failures after which a request certainly did not reach Spotify.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
DEFAULT_MAX_SEARCH_LIMIT = 10  # development-mode apps (Feb 2026)


class TokenSource(Protocol):
    async def access_token(self) -> str:
        """A valid access token (refreshing it first when it has expired)."""
        ...

    async def refreshed_access_token(self) -> str:
        """A new access token after Spotify answered 401 to the current one."""
        ...


class StaticToken:
    """A fixed access token (tests, one-off scripts)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def access_token(self) -> str:
        return self._token

    async def refreshed_access_token(self) -> str:
        raise SpotifyAuthError("the access token was refused and cannot be refreshed")


def _message(response: httpx.Response) -> tuple[str, str | None]:
    """Spotify's error message and (for 429) reason; never empty.

    The Web API answers `{"error": {"status", "message", "reason"?}}`; some answers (authorization errors from
    the gateway, older endpoints) use the OAuth shape `{"error": "invalid_request", "error_description": …}`.
    When the body says nothing readable, the status and its reason phrase stand in.
    """
    fallback = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or fallback, None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            reason = error.get("reason")
            reason_text = str(reason) if reason is not None else None
            message = error.get("message")
            text = str(message).strip() if message is not None else ""
            return text or reason_text or fallback, reason_text
        if isinstance(error, str):
            description = body.get("error_description")
            detail = str(description).strip() if description is not None else ""
            code = error.strip()
            if detail and code:
                return f"{detail} ({code})", None
            return detail or code or fallback, None
    return fallback, None


class SpotifyTransport:
    """Sends one request at a time under the module docstring's rules; subclassed by `SpotifyClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenSource,
        *,
        base_url: str = "https://api.spotify.com/v1",
        endpoints: EndpointMemory | None = None,
        policy: RetryPolicy | None = None,
        semaphore: asyncio.Semaphore | None = None,
        timeout: float = 20.0,
        sleep: Sleep | None = None,
        max_search_limit: int = DEFAULT_MAX_SEARCH_LIMIT,
        budget: RequestBudget | None = None,
        purpose: Purpose = Purpose.tools,
        user_id: UUID | None = None,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._base = base_url.rstrip("/")
        self.endpoints: EndpointMemory = endpoints if endpoints is not None else InMemoryEndpointMemory()
        self.policy = policy or RetryPolicy()
        self._semaphore = semaphore or asyncio.Semaphore(4)
        self._timeout = timeout
        self._sleep: Sleep = sleep or asyncio.sleep
        # A limit of the app (like its removed endpoints), which `SpotifyClient.search` enforces.
        self.max_search_limit = max_search_limit
        self.stats = CallStats()
        self.budget: RequestBudget = budget if budget is not None else Unmetered()
        # What this client's requests are for (their priority in the budget) and whose they are.
        self.purpose = purpose
        self.user_id = user_id

    async def _pause(self, seconds: float) -> None:
        self.stats.slept_seconds += seconds
        await self._sleep(seconds)

    async def _get(
        self, endpoint: str, path: str, params: dict[str, str | int] | None = None, *, missing_ok: bool = False
    ) -> Json | None:
        """GET `path`; `endpoint` is the key used for stats and removed-endpoint memory.

        Returns the JSON body, or None for 204 and (when `missing_ok`) for 404.
        """
        return await self._request("GET", endpoint, path, params, missing_ok=missing_ok)

    async def _request(
        self,
        method: Literal["GET", "POST"],
        endpoint: str,
        path: str,
        params: dict[str, str | int] | None = None,
        *,
        body: Json | None = None,
        missing_ok: bool = False,
    ) -> Json | None:
        """One request with the retry, rate-limit, refresh and budget rules of the module docstring. A write
        (POST) is repeated only where Spotify did not apply it: after 429, 401 and 5xx answers, never after a
        timeout or a broken connection (it may have landed), which raises `SpotifyUnavailable` at once."""
        removable = endpoint in REMOVABLE
        if removable and self.endpoints.is_removed(endpoint):
            raise EndpointRemoved(endpoint)
        failures = 0
        rate_limits = 0
        refreshed = False
        while True:
            token = await self._tokens.access_token()
            await self.budget.spend(self.purpose, endpoint, self.user_id)
            try:
                async with self._semaphore:
                    self.stats.requests += 1
                    self.stats.by_endpoint[endpoint] = self.stats.by_endpoint.get(endpoint, 0) + 1
                    response = await self._http.request(
                        method,
                        f"{self._base}{path}",
                        params=params,
                        json=body,
                        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                        timeout=self._timeout,
                    )
            except (httpx.TimeoutException, httpx.TransportError) as problem:
                failures += 1
                self.stats.server_errors += 1
                # A write that may have reached Spotify is not sent again (it could be applied twice); one that
                # never left (no connection) is safe to repeat.
                if method != "GET" and not isinstance(problem, NEVER_SENT):
                    raise SpotifyUnavailable(
                        f"{endpoint}: no answer from Spotify; the request may or may not have been applied"
                    ) from None
                if failures >= self.policy.max_attempts:
                    raise SpotifyUnavailable(f"{endpoint}: no answer from Spotify after {failures} attempts") from None
                self.stats.retries += 1
                await self._pause(self.policy.backoff(failures))
                continue
            status = response.status_code
            if 200 <= status < 300:
                if status == 204 or not response.content:
                    return None
                body = response.json()
                if not isinstance(body, dict):
                    raise SpotifyHTTPError(status, "expected a JSON object", endpoint=endpoint)
                return body
            message, reason = _message(response)
            if status == 401:
                if refreshed:
                    raise SpotifyAuthError(f"{endpoint}: Spotify refused a freshly refreshed token: {message}")
                refreshed = True
                await self._tokens.refreshed_access_token()
                continue
            if status == 429:
                self.stats.rate_limited += 1
                retry_after = parse_retry_after(response.headers.get("retry-after"), self.policy.default_retry_after)
                if reason == "QUOTA_EXCEEDED" or retry_after > self.policy.max_inline_wait:
                    # The quota and long waits are the app's, not this call's: every process stops until then.
                    until = await self.budget.block(retry_after, reason=reason, endpoint=endpoint)
                    raise QuotaBlocked(until, retry_after=retry_after, reason=reason, endpoint=endpoint)
                if rate_limits >= self.policy.max_rate_limit_retries:
                    raise RateLimited(retry_after, reason=reason, endpoint=endpoint)
                rate_limits += 1
                self.stats.retries += 1
                await self._pause(retry_after)
                continue
            if status >= 500:
                failures += 1
                self.stats.server_errors += 1
                if failures >= self.policy.max_attempts:
                    raise SpotifyUnavailable(f"{endpoint}: Spotify answered {status} {failures} times: {message}")
                self.stats.retries += 1
                await self._pause(self.policy.backoff(failures))
                continue
            if removable and status in (403, 404):
                await self.endpoints.mark_removed(endpoint, status, message)
                raise EndpointRemoved(endpoint, status_code=status)
            if status == 404 and missing_ok:
                return None
            raise SpotifyHTTPError(status, message, endpoint=endpoint)

    async def _get_model[M: BaseModel](
        self, model: type[M], endpoint: str, path: str, params: dict[str, str | int] | None = None
    ) -> M:
        body = await self._get(endpoint, path, params)
        return validate(model, body or {}, endpoint)


def validate[M: BaseModel](model: type[M], body: object, endpoint: str) -> M:
    """The answer as `model`; an answer of another shape is a `SpotifyHTTPError` naming the endpoint."""
    try:
        return model.model_validate(body)
    except ValidationError as problem:
        raise SpotifyHTTPError(
            200, f"unexpected answer shape: {problem.errors()[0]['msg']}", endpoint=endpoint
        ) from None
