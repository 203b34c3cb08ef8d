"""The authorization server faces the internet (issue 16.4), over real HTTP against a real PostgreSQL: dynamic
client registration is bounded in every field and limited per client address (not for everyone together);
loopback redirect URIs match on any port (RFC 8252 §7.3); `iss` is in every authorization response (RFC 9207);
Client ID Metadata Documents are fetched without holding a database connection, from the address checked once
(no DNS rebinding), never from private addresses unless allowed, and within size and time caps."""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trustme
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from core.dburl import libpq_url
from serve.api.app import create_app
from serve.oauth.cimd import CimdFetcher
from serve.oauth.errors import ClientError
from tests.integration.oauth_as_support import (
    CALLBACK,
    Stack,
    allow_on_consent,
    redirect_params,
    sign_in_with_password,
    stack_for,
)
from tests.integration.test_oauth_as_security import PASSWORD, challenge
from tests.live_server import live_server

ADMIN = {"Authorization": "Bearer test-admin-token-0123456789"}
PUBLIC_CLIENT = {"client_name": "Probe", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    yield from stack_for(database_url)


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as client:
        yield client


def client_count(stack: Stack) -> int:
    return int(stack.query("SELECT count(*) FROM app.oauth_clients")[0][0])


# --- registration ------------------------------------------------------------------------------------------------


async def test_registration_fields_and_body_are_bounded(stack: Stack, http: httpx.AsyncClient) -> None:
    refused: list[tuple[dict[str, Any], str]] = [
        ({**PUBLIC_CLIENT, "client_name": "n" * 201}, "client_name is longer than 200 characters"),
        ({**PUBLIC_CLIENT, "redirect_uris": [f"{CALLBACK}/{n}" for n in range(11)]}, "at most 10"),
        ({**PUBLIC_CLIENT, "redirect_uris": [CALLBACK + "/" + "p" * 2048]}, "longer than 2048 bytes"),
        ({**PUBLIC_CLIENT, "client_uri": "https://a.example/" + "u" * 2048}, "client_uri is longer than 2048"),
    ]
    for body, problem in refused:
        answer = await http.post("/oauth/register", json=body)
        assert answer.status_code == 400, answer.text
        assert problem in answer.json()["error_description"], answer.text
    assert (await http.post("/oauth/register", json={**PUBLIC_CLIENT, "client_name": "n" * 200})).status_code == 201
    ten = [f"{CALLBACK}/{n}" for n in range(10)]
    assert (await http.post("/oauth/register", json={**PUBLIC_CLIENT, "redirect_uris": ten})).status_code == 201

    # Today's attack: a 10 MB client_name, 200,000 redirect URIs. Refused by size before it is parsed.
    for huge in (
        {**PUBLIC_CLIENT, "client_name": "n" * 10_000_000},
        {**PUBLIC_CLIENT, "redirect_uris": [CALLBACK] * 200_000},
    ):
        answer = await http.post(
            "/oauth/register", content=json.dumps(huge), headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 413, answer.text
        assert answer.json() == {
            "error": "invalid_client_metadata",
            "error_description": "the registration body is larger than 64 KB",
        }

    # Without a Content-Length (chunked), the cap holds while streaming.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"client_name": "'
        for _ in range(100):
            yield b"x" * 1024

    streamed = await http.post("/oauth/register", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert client_count(stack) == 2


def flood(stack: Stack, address: str, count: int, *, oldest_minutes: int = 10) -> None:
    for number in range(count):
        minutes = 50 if number == 0 else oldest_minutes  # the oldest leaves the hour in ~10 minutes
        stack.query(
            "INSERT INTO app.oauth_clients (client_id, kind, redirect_uris, registered_from, created_at) "
            "VALUES (%s, 'dcr', '[]'::jsonb, %s, now() - make_interval(mins => %s))",
            (f"flood-{address}-{number}", address, minutes),
        )


async def test_registration_is_limited_per_client_address(stack: Stack, http: httpx.AsyncClient) -> None:
    """30 an hour from one address, then 429 with Retry-After; another address is not blocked by that."""
    flood(stack, "203.0.113.7", 30)  # someone else filled their hour: we are not blocked (we are 127.0.0.1)
    first = await http.post("/oauth/register", json=PUBLIC_CLIENT)
    assert first.status_code == 201, first.text
    assert stack.query(
        "SELECT registered_from FROM app.oauth_clients WHERE client_id = %s", (first.json()["client_id"],)
    ) == [("127.0.0.1",)]
    flood(stack, "127.0.0.1", 29)
    refused = await http.post("/oauth/register", json=PUBLIC_CLIENT)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "temporarily_unavailable"
    assert "from your address" in refused.json()["error_description"]
    assert "OAUTH_MAX_REGISTRATIONS_PER_HOUR" in refused.json()["error_description"]
    assert 9 * 60 <= int(refused.headers["Retry-After"]) <= 10 * 60 + 1

    # Behind a reverse proxy on loopback (TRUSTED_PROXIES defaults to loopback) each client counts for itself.
    proxied = await http.post("/oauth/register", json=PUBLIC_CLIENT, headers={"X-Forwarded-For": "198.51.100.4"})
    assert proxied.status_code == 201, proxied.text
    # An IPv6 client counts by its /64: another address of the same network shares the count.
    flood(stack, "2001:db8:1:2::/64", 30)
    same_net = await http.post("/oauth/register", json=PUBLIC_CLIENT, headers={"X-Forwarded-For": "2001:db8:1:2::99"})
    assert same_net.status_code == 429
    other_net = await http.post("/oauth/register", json=PUBLIC_CLIENT, headers={"X-Forwarded-For": "2001:db8:1:3::1"})
    assert other_net.status_code == 201

    # The hour slides: when the oldest registration of 127.0.0.1 leaves it, one more is accepted.
    stack.query(
        "UPDATE app.oauth_clients SET created_at = now() - interval '61 minutes' WHERE client_id = 'flood-127.0.0.1-0'"
    )
    assert (await http.post("/oauth/register", json=PUBLIC_CLIENT)).status_code == 201
    assert (await http.post("/oauth/register", json=PUBLIC_CLIENT)).status_code == 429


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(stack: Stack, database_url: str) -> None:
    from core.settings import load_settings

    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": "eN0vcYq1HgrIm5Yl7OKG8qcHPfSgV3GJZ3vQ6rAcX0E=",
            "ADMIN_TOKEN": "test-admin-token-0123456789",
            "TRUSTED_PROXIES": "none",
        }
    )
    flood(stack, "127.0.0.1", 30)
    with live_server(create_app(settings, database_url)) as api:
        async with httpx.AsyncClient(base_url=api, timeout=30) as http:
            spoofed = await http.post(
                "/oauth/register", json=PUBLIC_CLIENT, headers={"X-Forwarded-For": "198.51.100.200"}
            )
    assert spoofed.status_code == 429, spoofed.text


# --- authorization: loopback ports and iss ------------------------------------------------------------------------


async def _password_user(stack: Stack, http: httpx.AsyncClient) -> None:
    rows = stack.query("INSERT INTO app.users (display_name) VALUES ('Zed') RETURNING id")
    answer = await http.put(
        f"/admin/users/{rows[0][0]}/signin/password", json={"login_name": "zed", "password": PASSWORD}, headers=ADMIN
    )
    assert answer.status_code == 204, answer.text


def _authorize(stack: Stack, client_id: str, redirect_uri: str, verifier: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": "st-1",
        "code_challenge": challenge(verifier),
        "code_challenge_method": "S256",
        "resource": stack.resource,
    }
    return str(httpx.URL(f"{stack.api}/oauth/authorize", params=params))


async def test_loopback_redirect_uri_matches_on_any_port_and_iss_is_sent(stack: Stack, http: httpx.AsyncClient) -> None:
    await _password_user(stack, http)
    registered = await http.post(
        "/oauth/register",
        json={
            "client_name": "Desktop",
            "redirect_uris": ["http://127.0.0.1/callback", "http://[::1]:9/cb", "https://app.example/cb"],
            "token_endpoint_auth_method": "none",
        },
    )
    client_id = registered.json()["client_id"]
    verifier = secrets.token_urlsafe(48)
    native = "http://127.0.0.1:53682/callback"
    async with httpx.AsyncClient(timeout=30) as browser:
        consent = await sign_in_with_password(browser, _authorize(stack, client_id, native, verifier), "zed", PASSWORD)
        answer = await allow_on_consent(browser, consent)
    params = redirect_params(answer, native)  # back to the port the app listens on
    assert params["iss"] == stack.api and params["state"] == "st-1"  # RFC 9207
    token = await http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": params["code"],
            "redirect_uri": native,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text

    async with httpx.AsyncClient(timeout=30) as browser:
        for allowed in ("http://[::1]:61000/cb", "http://127.0.0.1:1/callback"):
            page = await browser.get(_authorize(stack, client_id, allowed, verifier))
            assert page.status_code == 200 and "Sign in" in page.text, (allowed, page.text)
        for refused in (
            "http://127.0.0.1:53682/other",  # another path
            "http://localhost:53682/callback",  # another host
            "https://app.example:8443/cb",  # only loopback http ignores the port
            "http://127.0.0.1:53682/callback?x=1",
        ):
            page = await browser.get(_authorize(stack, client_id, refused, verifier))
            assert page.status_code == 400 and "location" not in page.headers, refused
        # Errors after the redirect URI is trusted carry iss too.
        error = await browser.get(_authorize(stack, client_id, native, verifier).replace("S256", "plain"))
        assert error.status_code == 302
        error_params = redirect_params(error, native)
        assert (error_params["error"], error_params["iss"]) == ("invalid_request", stack.api)
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["authorization_response_iss_parameter_supported"] is True


# --- Client ID Metadata Documents ----------------------------------------------------------------------------------


async def test_cimd_fetch_holds_no_database_connection(stack: Stack, database_url: str) -> None:
    """While the document is being fetched, the API holds no connection in a transaction (a slow document host
    cannot drain the pool); observed from inside the document server, during the fetch."""
    seen: list[int] = []
    url = f"{stack.cimd}/clients/slow.json"

    def busy_api_connections() -> int:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'spotify-mcp api' AND state IN ('idle in transaction', 'active')"
            ).fetchone()
        assert row is not None
        return int(row[0])

    stack.on_fetch["/clients/slow.json"] = lambda: seen.append(busy_api_connections())
    stack.documents["/clients/slow.json"] = {"client_id": url, "client_name": "Slow", "redirect_uris": [CALLBACK]}
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(_authorize(stack, url, CALLBACK, secrets.token_urlsafe(48)))
    assert page.status_code == 200, page.text
    assert seen == [0]


@pytest.fixture(scope="module")
def tls() -> Iterator[tuple[Path, ssl.SSLContext]]:
    authority = trustme.CA()
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    with authority.issue_cert("docs.example.net").private_key_and_cert_chain_pem.tempfile() as pem:
        yield Path(pem), trusting


class Dns:
    """A resolver that answers from a script and counts questions (the DNS a rebinding attacker controls)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        del host, port
        self.asked += 1
        return self.answers[min(self.asked, len(self.answers)) - 1]


def document_server(requests: list[str], body: bytes | None = None, *, dribble: bool = False) -> Starlette:
    async def serve(request: Request) -> Response:
        requests.append(request.headers.get("host", ""))
        if dribble:

            async def slowly() -> AsyncIterator[bytes]:
                yield b"{"
                while True:
                    await asyncio.sleep(0.2)
                    yield b" "

            return StreamingResponse(slowly(), media_type="application/json")
        return Response(body or b'{"ok": true}', media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", serve)])


async def test_cimd_resolves_once_and_connects_to_that_address(tls: tuple[Path, ssl.SSLContext]) -> None:
    pem, trusting = tls
    requests: list[str] = []
    with live_server(document_server(requests), tls_pem=str(pem)) as base:
        port = base.rsplit(":", 1)[1]
        url = f"https://docs.example.net:{port}/client.json"
        # Checked once as loopback (allowed here), then the name "rebinds" to a public address we must not use.
        dns = Dns(["127.0.0.1"], ["203.0.113.9"])
        fetched = await CimdFetcher(allow_private=True, resolver=dns, verify=trusting).fetch(url)
    assert fetched == {"ok": True}
    assert dns.asked == 1 and requests == [f"docs.example.net:{port}"]  # TLS and Host for the name, not the IP


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["10.0.0.8"],
        ["192.168.1.1"],
        ["169.254.169.254"],
        ["::1"],
        ["fe80::1"],
        ["93.184.216.34", "10.0.0.8"],
    ],
)
async def test_cimd_refuses_private_addresses_unless_allowed(
    tls: tuple[Path, ssl.SSLContext], answer: list[str]
) -> None:
    pem, trusting = tls
    requests: list[str] = []
    with live_server(document_server(requests), tls_pem=str(pem)) as base:
        url = f"https://docs.example.net:{base.rsplit(':', 1)[1]}/client.json"
        with pytest.raises(ClientError, match=r"not a public address \(OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES is off\)"):
            await CimdFetcher(resolver=Dns(answer), verify=trusting).fetch(url)
    assert requests == []  # refused before connecting


async def test_cimd_size_and_time_are_capped(tls: tuple[Path, ssl.SSLContext]) -> None:
    pem, trusting = tls
    requests: list[str] = []
    big = json.dumps({"client_name": "x" * 70_000}).encode()
    with live_server(document_server(requests, big), tls_pem=str(pem)) as base:
        url = f"https://docs.example.net:{base.rsplit(':', 1)[1]}/client.json"
        with pytest.raises(ClientError, match="larger than 64 KiB"):
            await CimdFetcher(allow_private=True, resolver=Dns(["127.0.0.1"]), verify=trusting).fetch(url)
    with live_server(document_server(requests, dribble=True), tls_pem=str(pem)) as base:
        url = f"https://docs.example.net:{base.rsplit(':', 1)[1]}/client.json"
        slow = CimdFetcher(allow_private=True, resolver=Dns(["127.0.0.1"]), verify=trusting, timeout_seconds=1.0)
        with pytest.raises(ClientError, match="took longer than 1 s"):
            await slow.fetch(url)
    assert len(requests) == 2
