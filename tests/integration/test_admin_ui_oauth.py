"""The admin UI's user page for the OAuth authorization server, against the real API and PostgreSQL: the
connected assistants (a grant made the real way: password sign-in, consent, code exchange) with Disconnect,
the empty state, setting a sign-in name and password (never echoed back), and a one-time link shown once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.settings import Settings
from serve.admin_ui.app import create_admin_app
from tests.conftest import ADMIN_TOKEN
from tests.integration.oauth_as_support import (
    CALLBACK,
    Stack,
    allow_on_consent,
    redirect_params,
    sign_in_with_password,
    stack_for,
)
from tests.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HTMX = {"HX-Request": "true"}
PASSWORD = "Tr0ub4dor & a long one"


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    yield from stack_for(database_url)


@pytest.fixture
def ui(stack: Stack, settings: Settings) -> Iterator[str]:
    with live_server(create_admin_app(settings, api_base_url=stack.api)) as base:
        yield base


def _login(base: str) -> tuple[httpx.Client, dict[str, str]]:
    client = httpx.Client(base_url=base, timeout=30)
    assert client.post("/login", data={"token": ADMIN_TOKEN, "next": "/users"}).status_code == 303
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/users").text)
    assert match
    return client, {**HTMX, "X-CSRF-Token": match.group(1)}


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


async def _connect_assistant(stack: Stack, login_name: str) -> tuple[str, dict[str, Any]]:
    """Register a public client ("Probe Assistant"), sign in with the password, allow, exchange the code."""
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
        registered = await http.post(
            "/oauth/register",
            json={
                "client_name": "Probe Assistant",
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "none",
            },
        )
        assert registered.status_code == 201, registered.text
        client_id = registered.json()["client_id"]
        verifier = secrets.token_urlsafe(48)
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "state": "st-" + secrets.token_hex(4),
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
            "scope": "history:read",
            "resource": stack.resource,
        }
        async with httpx.AsyncClient(timeout=30) as browser:
            url = str(httpx.URL(f"{stack.api}/oauth/authorize", params=params))
            consent = await sign_in_with_password(browser, url, login_name, PASSWORD)
            code = redirect_params(await allow_on_consent(browser, consent))["code"]
        answer = await http.post(
            "/oauth/token",
            data={
                "client_id": client_id,
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "code_verifier": verifier,
            },
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return client_id, body


def _mcp_status(stack: Stack, access_token: str) -> httpx.Response:
    return httpx.post(
        f"{stack.api}/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "ops_sync_status", "arguments": {}},
        },
        headers={
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=30,
    )


def _new_user(stack: Stack, name: str) -> str:
    rows = stack.query("INSERT INTO app.users (display_name) VALUES (%s) RETURNING id", (name,))
    return str(rows[0][0])


def test_password_link_grants_and_disconnect(stack: Stack, ui: str) -> None:
    client, headers = _login(ui)
    user_id = _new_user(stack, "Zed")

    # Empty state, the docs pointer and the sign-in forms with accessible labels.
    page = client.get(f"/users/{user_id}")
    assert page.status_code == 200
    assert "Connected assistants" in page.text and "No assistant has signed in as this user yet" in page.text
    assert "docs/mcp-clients.md" in page.text
    assert '<label for="signin-name">' in page.text and 'id="signin-password"' in page.text
    assert 'type="password"' in page.text
    assert "signin-link" not in page.text

    # CSRF is required for the sign-in changes.
    refused = client.post(
        f"/users/{user_id}/signin/password", headers=HTMX, data={"login_name": "zed", "password": PASSWORD}
    )
    assert refused.status_code == 403 and "expired" in refused.text
    # API validation errors come back as a message (too short a password), never echoing the password.
    short = client.post(
        f"/users/{user_id}/signin/password", headers=headers, data={"login_name": "zed", "password": "x1"}
    )
    assert short.status_code == 422 and short.headers["hx-retarget"] == "#messages"
    assert 'class="msg msg-error"' in short.text and "password" in short.text and "Traceback" not in short.text

    # Setting the password works; the password appears nowhere in the answer or the page.
    saved = client.post(
        f"/users/{user_id}/signin/password", headers=headers, data={"login_name": "zed", "password": PASSWORD}
    )
    assert saved.status_code == 200 and "Sign-in set" in saved.text and "<strong>zed</strong>" in saved.text
    assert PASSWORD not in saved.text and html.escape(PASSWORD) not in saved.text
    assert PASSWORD not in client.get(f"/users/{user_id}").text
    assert PASSWORD not in stack.dump_app_tables()

    # The password set through the UI signs in for real; the grant is then listed on the user page.
    client_id, issued = asyncio.run(_connect_assistant(stack, "zed"))
    assert _mcp_status(stack, issued["access_token"]).status_code == 200
    page = client.get(f"/users/{user_id}")
    assert "No assistant has signed in" not in page.text
    assert "Probe Assistant" in page.text and "<code>127.0.0.1:9</code>" in page.text and "history:read" in page.text
    grant = re.search(rf"/users/{user_id}/oauth-grants/([0-9a-f-]{{36}})/disconnect", page.text)
    assert grant is not None
    assert (
        'hx-confirm="Disconnect Probe Assistant?' in page.text
        and 'aria-label="Disconnect Probe Assistant"' in page.text
    )

    # Disconnect needs CSRF, then revokes the grant and its tokens.
    assert client.post(f"/users/{user_id}/oauth-grants/{grant.group(1)}/disconnect", headers=HTMX).status_code == 403
    gone = client.post(f"/users/{user_id}/oauth-grants/{grant.group(1)}/disconnect", headers=headers)
    assert gone.status_code == 200 and 'id="oauth-grants"' in gone.text
    assert "disconnected" in gone.text and "/disconnect" not in gone.text
    [listed] = httpx.get(f"{stack.api}/admin/users/{user_id}/oauth-grants", headers=ADMIN, timeout=30).json()
    assert listed["client_id"] == client_id and listed["revoked_at"] is not None and listed["live_tokens"] == 0
    assert _mcp_status(stack, issued["access_token"]).status_code == 401
    # Disconnecting an unknown grant is an API error shown as a message.
    missing = client.post(f"/users/{user_id}/oauth-grants/{grant.group(1)[:-4]}0000/disconnect", headers=headers)
    assert (
        missing.status_code == 404
        and "no OAuth grant" in missing.text
        and missing.headers["hx-retarget"] == "#messages"
    )

    # A one-time link is shown once, with its expiry; it then opens a sign-in exactly once.
    bad = client.post(f"/users/{user_id}/signin/link", headers=headers, data={"expires_in_hours": "999"})
    assert bad.status_code == 422 and 'class="msg msg-error"' in bad.text
    made = client.post(f"/users/{user_id}/signin/link", headers=headers, data={"expires_in_hours": "2"})
    assert made.status_code == 200 and "not shown again" in made.text and "expires" in made.text
    shown = re.search(r'<code id="signin-link">([^<]+)</code>', made.text)
    assert shown is not None and "token=" in shown.group(1)
    link_url = html.unescape(shown.group(1))
    again = client.get(f"/users/{user_id}").text
    assert "signin-link" not in again and link_url.split("token=")[1] not in again
    with httpx.Client(timeout=30) as browser:
        assert browser.get(link_url, follow_redirects=True).status_code == 200
        assert browser.get(link_url).status_code == 400


def test_empty_state_and_unknown_user(stack: Stack, ui: str) -> None:
    client, headers = _login(ui)
    user_id = _new_user(stack, "Yan")
    page = client.get(f"/users/{user_id}")
    assert "No assistant has signed in as this user yet" in page.text and "Sign-in for assistants" in page.text
    # An unknown user: the API's 404 becomes a message, not a trace.
    other = "00000000-0000-4000-8000-000000000000"
    answer = client.post(f"/users/{other}/signin/link", headers=headers, data={"expires_in_hours": "1"})
    assert answer.status_code == 404 and "no user with id" in answer.text and "Traceback" not in answer.text


def test_assistants_page_lists_and_deletes_clients(stack: Stack, ui: str) -> None:
    client, headers = _login(ui)
    empty = client.get("/assistants")
    assert empty.status_code == 200 and "No assistant is registered yet" in empty.text
    assert '<a href="/assistants" aria-current="page">Assistants</a>' in empty.text

    created = httpx.post(
        f"{stack.api}/admin/oauth/clients",
        json={"client_id": "house-assistant", "client_name": "House", "redirect_uris": ["https://house.example/cb"]},
        headers=ADMIN,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    cimd = "https://client.example/oauth/meta.json"  # CIMD ids are URLs: the delete must carry it whole
    stack.query(
        "INSERT INTO app.oauth_clients (client_id, kind, client_name, redirect_uris) "
        "VALUES (%s, 'cimd', 'Meta Client', '[\"https://client.example/cb\"]'::jsonb)",
        (cimd,),
    )
    page = client.get("/assistants")
    assert "House" in page.text and "<code>house.example</code>" in page.text and "Meta Client" in page.text
    assert 'hx-confirm="Delete House? Nobody has it connected."' in page.text
    assert 'aria-label="Delete House"' in page.text

    def delete(client_id: str, with_csrf: bool = True) -> httpx.Response:
        return client.post("/assistants/delete", headers=headers if with_csrf else HTMX, data={"client_id": client_id})

    assert delete("house-assistant", with_csrf=False).status_code == 403
    gone = delete("house-assistant")
    assert gone.status_code == 200 and 'id="oauth-clients"' in gone.text
    assert "House" not in gone.text and "Meta Client" in gone.text
    assert "Meta Client" not in delete(cimd).text
    listed = httpx.get(f"{stack.api}/admin/oauth/clients", headers=ADMIN, timeout=30).json()
    assert listed["total"] == 0
    missing = delete("house-assistant")
    assert missing.status_code == 404 and "no OAuth client" in missing.text and "Traceback" not in missing.text
