"""The official `mcp` SDK's OAuth client against our authorization server over real HTTP: discovery (RFC 9728,
RFC 8414), registration (DCR and CIMD), PKCE authorization with a Spotify sign-in (the fake Spotify), token
exchange, a tool call, and a refresh; nothing secret lands in the database in plaintext."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from tests.integration.oauth_as_support import (
    CALLBACK,
    Stack,
    allow_on_consent,
    redirect_params,
    sign_in_with_spotify,
    stack_for,
)


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    yield from stack_for(database_url)


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class ScriptedBrowser:
    """The person: opens the authorization URL, signs in with Spotify, allows; hands the redirect to the SDK."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(timeout=30)
        self.result: AuthorizationCodeResult | None = None
        self.consent_text = ""
        self.authorize_url = ""

    async def redirect(self, url: str) -> None:
        self.authorize_url = url
        consent = await sign_in_with_spotify(self.http, url)
        self.consent_text = consent.text
        params = redirect_params(await allow_on_consent(self.http, consent))
        self.result = AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


def provider(stack: Stack, storage: MemoryStorage, browser: ScriptedBrowser, **extra: str) -> OAuthClientProvider:
    metadata = OAuthClientMetadata.model_validate(
        {
            "redirect_uris": [CALLBACK],
            "client_name": "Test Assistant",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
        }
    )
    return OAuthClientProvider(
        server_url=stack.resource,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
        client_metadata_url=extra.get("client_metadata_url"),
    )


async def call_sync_status(stack: Stack, auth: OAuthClientProvider, mode: str = "legacy") -> dict[str, object]:
    transport = streamable_http_client(stack.resource, http_client=create_mcp_http_client(auth=auth))
    async with Client(transport, mode=mode, cache=None) as client:
        answer = await client.call_tool("ops_sync_status", {})
        assert not answer.is_error, answer
        content: dict[str, object] | None = answer.structured_content
        assert content is not None
        return content


async def test_dcr_spotify_signin_pkce_tool_call_refresh_and_nothing_plaintext(stack: Stack) -> None:
    storage, browser = MemoryStorage(), ScriptedBrowser()
    async with browser.http:
        auth = provider(stack, storage, browser)
        result = await call_sync_status(stack, auth)

        # Registration was dynamic (a secret-bearing client), the person was created by the Spotify sign-in and
        # is being collected; the consent page named the client, the redirect host and what it may read.
        assert storage.client is not None and storage.client.client_id.startswith("smcp-client-")
        assert storage.client.client_secret is not None
        assert "Test Assistant" in browser.consent_text and "127.0.0.1:9" in browser.consent_text
        assert "listening history" in browser.consent_text and "Signed in as <strong>Alice" in browser.consent_text
        assert "resource=" in browser.authorize_url and "code_challenge_method=S256" in browser.authorize_url
        users = stack.query("SELECT id, spotify_user_id FROM app.users")
        assert [row[1] for row in users] == ["alice"]
        assert stack.query("SELECT count(*) FROM app.sync_checkpoints WHERE user_id = %s", (users[0][0],)) == [(1,)]
        assert str(users[0][0]) in str(result)
        grants = stack.query("SELECT user_id, client_id, scope, revoked_at FROM app.oauth_grants")
        assert grants == [(users[0][0], storage.client.client_id, "history:read", None)]
        assert storage.tokens is not None and storage.tokens.refresh_token is not None
        first = storage.tokens

        # Refresh (the SDK refreshes an expired access token itself): a new pair, the old refresh token rotated.
        auth.context.token_expiry_time = 1.0  # long past: the held access token counts as expired
        await call_sync_status(stack, auth)
        assert storage.tokens.access_token != first.access_token
        assert storage.tokens.refresh_token not in (None, first.refresh_token)
        assert stack.query("SELECT count(*) FROM app.oauth_tokens WHERE kind='refresh' AND rotated_at IS NOT NULL") == [
            (1,)
        ]

        dump = stack.dump_app_tables()
        secrets = [first.access_token, first.refresh_token, storage.tokens.access_token, storage.tokens.refresh_token]
        secrets += [storage.client.client_secret, browser.result.code if browser.result else ""]
        for secret in secrets:
            assert secret and secret not in dump


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_cimd_client_is_fetched_validated_and_cached_instead_of_registering(stack: Stack, mode: str) -> None:
    url = f"{stack.cimd}/clients/assistant.json"
    stack.documents["/clients/assistant.json"] = {
        "client_id": url,
        "client_name": "Metadata Assistant",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    storage, browser = MemoryStorage(), ScriptedBrowser()
    async with browser.http:
        await call_sync_status(stack, provider(stack, storage, browser, client_metadata_url=url), mode)
    assert storage.client is not None and storage.client.client_id == url
    assert "Metadata Assistant" in browser.consent_text and "cimd.example.org" in browser.consent_text
    rows = stack.query("SELECT kind, client_name, fetched_at IS NOT NULL FROM app.oauth_clients")
    assert rows == [("cimd", "Metadata Assistant", True)]  # no dynamic registration happened


async def test_cimd_document_naming_another_client_id_is_refused(stack: Stack) -> None:
    url = f"{stack.cimd}/clients/liar.json"
    stack.documents["/clients/liar.json"] = {
        "client_id": f"{stack.cimd}/clients/other.json",
        "redirect_uris": [CALLBACK],
    }
    async with httpx.AsyncClient() as http:
        page = await http.get(
            f"{stack.api}/oauth/authorize",
            params={
                "client_id": url,
                "redirect_uri": CALLBACK,
                "response_type": "code",
                "code_challenge": "x" * 43,
                "code_challenge_method": "S256",
            },
        )
    assert page.status_code == 400 and "client_id must equal its URL" in page.text
    assert stack.query("SELECT count(*) FROM app.oauth_clients") == [(0,)]
