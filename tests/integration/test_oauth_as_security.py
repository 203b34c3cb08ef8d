"""The authorization server refuses what it must, over real HTTP against a real PostgreSQL: wrong redirect URI,
missing or wrong PKCE verifier, replayed codes (which revoke what the code issued), refresh-token reuse (which
revokes the family), tokens for another resource, expired, revoked or another user's tokens; plus the local
password and one-time-link sign-ins and the admin's grant list and revoke."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.integration.oauth_as_support import (
    CALLBACK,
    Stack,
    allow_on_consent,
    redirect_params,
    sign_in_with_password,
    stack_for,
)

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "correct horse battery"
BY_TOKEN = "token_hash = encode(sha256(%s::bytea), 'hex')"


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    yield from stack_for(database_url)


@dataclass
class Env:
    stack: Stack
    http: httpx.AsyncClient
    client_id: str
    zed: str
    yan: str


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@pytest.fixture
async def env(stack: Stack) -> AsyncIterator[Env]:
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
        registered = await http.post(
            "/oauth/register",
            json={"client_name": "Probe", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"},
        )
        assert registered.status_code == 201, registered.text
        assert "client_secret" not in registered.json()
        users = []
        for name in ("Zed", "Yan"):
            rows = stack.query("INSERT INTO app.users (display_name) VALUES (%s) RETURNING id", (name,))
            users.append(str(rows[0][0]))
            answer = await http.put(
                f"/admin/users/{rows[0][0]}/signin/password",
                json={"login_name": name.lower(), "password": PASSWORD},
                headers=ADMIN,
            )
            assert answer.status_code == 204, answer.text
        yield Env(stack, http, registered.json()["client_id"], users[0], users[1])


def authorize_params(env: Env, verifier: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": env.client_id,
        "redirect_uri": CALLBACK,
        "state": "st-" + secrets.token_hex(4),
        "code_challenge": challenge(verifier),
        "code_challenge_method": "S256",
        "scope": "history:read",
        "resource": env.stack.resource,
    }
    params.update(overrides)
    return params


async def get_code(env: Env, verifier: str, login: str = "zed") -> dict[str, str]:
    async with httpx.AsyncClient(timeout=30) as browser:
        url = str(httpx.URL(f"{env.stack.api}/oauth/authorize", params=authorize_params(env, verifier)))
        consent = await sign_in_with_password(browser, url, login, PASSWORD)
        return redirect_params(await allow_on_consent(browser, consent))


async def token(env: Env, **data: str) -> httpx.Response:
    return await env.http.post("/oauth/token", data={"client_id": env.client_id, **data})


async def exchange(env: Env, code: str, verifier: str) -> dict[str, Any]:
    answer = await token(env, grant_type="authorization_code", code=code, redirect_uri=CALLBACK, code_verifier=verifier)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def mcp_status(env: Env, access_token: str, args: dict[str, Any] | None = None) -> httpx.Response:
    """One MCP tools/call over /mcp (JSON response, stateless server)."""
    return await env.http.post(
        "/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "ops_sync_status", "arguments": args or {}},
        },
        headers={
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
    )


async def test_unauthenticated_mcp_names_the_resource_metadata_and_scope(env: Env) -> None:
    answer = await env.http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert answer.status_code == 401
    challenge_header = answer.headers["www-authenticate"]
    assert f'resource_metadata="{env.stack.api}/.well-known/oauth-protected-resource/mcp"' in challenge_header
    assert 'scope="history:read"' in challenge_header
    assert "error=" not in challenge_header  # no token was sent: nothing to call invalid
    prm = (await env.http.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert prm["resource"] == env.stack.resource and prm["authorization_servers"] == [env.stack.api]
    asm = (await env.http.get("/.well-known/oauth-authorization-server")).json()
    assert asm["issuer"] == env.stack.api and asm["code_challenge_methods_supported"] == ["S256"]
    assert asm["client_id_metadata_document_supported"] is True
    assert asm["authorization_response_iss_parameter_supported"] is True


async def test_password_signin_code_is_single_use_and_a_replay_revokes_its_tokens(env: Env) -> None:
    verifier = secrets.token_urlsafe(48)
    params = await get_code(env, verifier)
    assert params["iss"] == env.stack.api and params["state"].startswith("st-")
    tokens = await exchange(env, params["code"], verifier)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    ok = await mcp_status(env, tokens["access_token"])
    assert ok.status_code == 200 and env.zed in ok.text and '"isError":false' in ok.text.replace(" ", "")

    replay = await token(
        env, grant_type="authorization_code", code=params["code"], redirect_uri=CALLBACK, code_verifier=verifier
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert (await mcp_status(env, tokens["access_token"])).status_code == 401  # revoked with the replay
    refreshed = await token(env, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 400


async def test_pkce_and_redirect_uri_are_enforced(env: Env) -> None:
    verifier = secrets.token_urlsafe(48)
    for wrong in ({"code_verifier": secrets.token_urlsafe(48)}, {}, {"redirect_uri": CALLBACK + "/other"}):
        params = await get_code(env, verifier)
        data = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK, **wrong}
        if not wrong:
            data.pop("code_verifier", None)
        elif "redirect_uri" in wrong:
            data["code_verifier"] = verifier
        answer = await token(env, **data)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", (wrong, answer.text)
    # Authorization requests: an unregistered redirect URI gets an error page, never a redirect.
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(
            f"{env.stack.api}/oauth/authorize",
            params=authorize_params(env, verifier, redirect_uri="https://attacker.example/cb"),
        )
        assert page.status_code == 400 and "location" not in page.headers
        plain = await browser.get(
            f"{env.stack.api}/oauth/authorize", params=authorize_params(env, verifier, code_challenge_method="plain")
        )
        assert plain.status_code == 302 and redirect_params(plain)["error"] == "invalid_request"
        other = await browser.get(
            f"{env.stack.api}/oauth/authorize",
            params=authorize_params(env, verifier, resource="https://other.example/mcp"),
        )
        assert other.status_code == 302 and redirect_params(other)["error"] == "invalid_target"
    assert env.stack.query("SELECT count(*) FROM app.oauth_tokens") == [(0,)]


async def test_refresh_rotation_detects_reuse_and_revokes_the_family(env: Env) -> None:
    verifier = secrets.token_urlsafe(48)
    first = await exchange(env, (await get_code(env, verifier))["code"], verifier)
    second = await token(env, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert (await mcp_status(env, rotated["access_token"])).status_code == 200

    reuse = await token(env, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reuse.status_code == 400 and "reuse" in reuse.json()["error_description"]
    assert (await mcp_status(env, rotated["access_token"])).status_code == 401
    assert (await token(env, grant_type="refresh_token", refresh_token=rotated["refresh_token"])).status_code == 400
    assert env.stack.query("SELECT count(*) FROM app.oauth_tokens WHERE revoked_at IS NULL") == [(0,)]


async def test_expired_other_resource_revoked_and_other_user_tokens_are_refused(env: Env) -> None:
    verifier = secrets.token_urlsafe(48)
    tokens = [await exchange(env, (await get_code(env, verifier))["code"], verifier) for _ in range(3)]
    for issued in tokens:
        assert (await mcp_status(env, issued["access_token"])).status_code == 200
    expired, foreign, revoked = (issued["access_token"] for issued in tokens)
    env.stack.query(
        f"UPDATE app.oauth_tokens SET expires_at = now() - interval '1 second' WHERE {BY_TOKEN}",
        (expired,),
    )
    env.stack.query(
        f"UPDATE app.oauth_tokens SET resource = 'https://other.example/mcp' WHERE {BY_TOKEN}",
        (foreign,),
    )
    assert (
        await env.http.post("/oauth/revoke", data={"client_id": env.client_id, "token": revoked})
    ).status_code == 200
    for refused in (expired, foreign, revoked, "smcp_at_made-up-token-value"):
        answer = await mcp_status(env, refused)
        assert answer.status_code == 401 and "resource_metadata=" in answer.headers["www-authenticate"]
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
        plain = await env.http.post(
            "/mcp/call", json={"tool": "ops.sync_status", "args": {}}, headers={"Authorization": f"Bearer {refused}"}
        )
        assert plain.status_code == 401

    # Zed's live token reads Zed's data only.
    verifier = secrets.token_urlsafe(48)
    zed = await exchange(env, (await get_code(env, verifier))["code"], verifier)
    crossing = await mcp_status(env, zed["access_token"], {"user_id": env.yan})
    assert crossing.status_code == 200 and '"isError":true' in crossing.text.replace(" ", "")
    assert "another user" in crossing.text


async def test_wrong_password_and_one_time_link(env: Env) -> None:
    verifier = secrets.token_urlsafe(48)
    url = str(httpx.URL(f"{env.stack.api}/oauth/authorize", params=authorize_params(env, verifier)))
    async with httpx.AsyncClient(timeout=30) as browser:
        wrong = await sign_in_with_password(browser, url, "zed", "not the password")
        assert wrong.status_code == 401 and "do not match" in wrong.text
    link = await env.http.post(f"/admin/users/{env.yan}/signin/link", json={}, headers=ADMIN)
    assert link.status_code == 201, link.text
    link_url = link.json()["url"]
    async with httpx.AsyncClient(timeout=30) as browser:
        opened = await browser.get(link_url, follow_redirects=True)
        assert opened.status_code == 200 and "signed in" in opened.text
        consent = await browser.get(url)
        assert "Signed in as <strong>Yan" in consent.text
        params = redirect_params(await allow_on_consent(browser, consent))
        again = await browser.get(link_url)
        assert again.status_code == 400  # one time only
    issued = await exchange(env, params["code"], verifier)
    answer = await mcp_status(env, issued["access_token"])
    assert env.yan in answer.text and env.zed not in answer.text
    assert link_url.split("token=")[1] not in env.stack.dump_app_tables()
    assert PASSWORD not in env.stack.dump_app_tables()


async def test_admin_lists_and_revokes_grants(env: Env) -> None:
    verifier = secrets.token_urlsafe(48)
    issued = await exchange(env, (await get_code(env, verifier))["code"], verifier)
    pending = (await get_code(env, verifier))["code"]  # consented, not yet exchanged
    listed = await env.http.get(f"/admin/users/{env.zed}/oauth-grants", headers=ADMIN)
    assert listed.status_code == 200
    [grant] = listed.json()
    assert grant["client_id"] == env.client_id and grant["client_name"] == "Probe" and grant["live_tokens"] == 2
    assert (await env.http.get(f"/admin/users/{env.zed}/oauth-grants")).status_code == 401
    assert (await env.http.get(f"/admin/users/{env.yan}/oauth-grants", headers=ADMIN)).json() == []
    other = await env.http.delete(f"/admin/users/{env.yan}/oauth-grants/{grant['id']}", headers=ADMIN)
    assert other.status_code == 404
    gone = await env.http.delete(f"/admin/users/{env.zed}/oauth-grants/{grant['id']}", headers=ADMIN)
    assert gone.status_code == 204
    assert (await mcp_status(env, issued["access_token"])).status_code == 401
    assert (await token(env, grant_type="refresh_token", refresh_token=issued["refresh_token"])).status_code == 400
    late = await token(
        env, grant_type="authorization_code", code=pending, redirect_uri=CALLBACK, code_verifier=verifier
    )
    assert late.status_code == 400 and "revoked" in late.json()["error_description"]
    [after] = (await env.http.get(f"/admin/users/{env.zed}/oauth-grants", headers=ADMIN)).json()
    assert after["revoked_at"] is not None and after["live_tokens"] == 0


async def test_password_guessing_locks_the_name_and_disabled_users_tokens_stop(env: Env) -> None:
    verifier = secrets.token_urlsafe(48)
    issued = await exchange(env, (await get_code(env, verifier))["code"], verifier)
    url = str(httpx.URL(f"{env.stack.api}/oauth/authorize", params=authorize_params(env, verifier)))
    async with httpx.AsyncClient(timeout=30) as browser:
        for attempt in range(5):
            wrong = await sign_in_with_password(browser, url, "zed", f"guess number {attempt}")
            assert wrong.status_code == 401
        locked = await sign_in_with_password(browser, url, "zed", PASSWORD)
        assert locked.status_code == 401  # even the right password, until the lock ends
    assert env.stack.query("SELECT locked_until > now() FROM app.oauth_local_credentials WHERE login_name='zed'") == [
        (True,)
    ]
    assert (await mcp_status(env, issued["access_token"])).status_code == 200
    env.stack.query("UPDATE app.users SET status = 'disabled' WHERE id = %s", (env.zed,))
    assert (await mcp_status(env, issued["access_token"])).status_code == 401


async def test_preregistered_confidential_client_must_authenticate_and_refresh_revocation(env: Env) -> None:
    created = await env.http.post(
        "/admin/oauth/clients",
        json={"client_id": "house-assistant", "client_name": "House", "redirect_uris": [CALLBACK]},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    secret = created.json()["client_secret"]
    assert secret.startswith("smcp_cs_") and secret not in env.stack.dump_app_tables()
    house = Env(env.stack, env.http, "house-assistant", env.zed, env.yan)
    verifier = secrets.token_urlsafe(48)
    code = (await get_code(house, verifier))["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
    no_secret = await env.http.post("/oauth/token", data={**form, "client_id": "house-assistant"})
    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client"
    wrong = await env.http.post("/oauth/token", data=form, auth=("house-assistant", "smcp_cs_wrong"))
    assert wrong.status_code == 401
    good = await env.http.post("/oauth/token", data=form, auth=("house-assistant", secret))
    assert good.status_code == 200, good.text
    issued = good.json()
    assert (await mcp_status(env, issued["access_token"])).status_code == 200
    # RFC 7009: revoking the refresh token ends the whole authorization (its access token too).
    revoked = await env.http.post(
        "/oauth/revoke",
        data={"token": issued["refresh_token"], "token_type_hint": "refresh_token"},
        auth=("house-assistant", secret),
    )
    assert revoked.status_code == 200
    assert (await mcp_status(env, issued["access_token"])).status_code == 401
    again = await env.http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        auth=("house-assistant", secret),
    )
    assert again.status_code == 400


async def test_admin_lists_and_deletes_clients(env: Env) -> None:
    created = await env.http.post(
        "/admin/oauth/clients",
        json={"client_id": "house-assistant", "client_name": "House", "redirect_uris": [CALLBACK]},
        headers=ADMIN,
    )
    secret = created.json()["client_secret"]
    house = Env(env.stack, env.http, "house-assistant", env.zed, env.yan)
    verifier = secrets.token_urlsafe(48)
    code = (await get_code(house, verifier))["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
    issued = (await env.http.post("/oauth/token", data=form, auth=("house-assistant", secret))).json()

    assert (await env.http.get("/admin/oauth/clients")).status_code == 401
    listed = (await env.http.get("/admin/oauth/clients", headers=ADMIN)).json()
    assert listed["total"] == 2
    assert [(c["client_id"], c["kind"]) for c in listed["items"]] == [
        ("house-assistant", "preregistered"),
        (env.client_id, "dcr"),
    ]
    house_row = listed["items"][0]
    assert (house_row["connected_users"], house_row["live_tokens"]) == (1, 2)
    assert "client_secret" not in house_row and "client_secret_hash" not in house_row
    only_dcr = (await env.http.get("/admin/oauth/clients", params={"kind": "dcr"}, headers=ADMIN)).json()
    assert [c["client_id"] for c in only_dcr["items"]] == [env.client_id]
    bad_kind = await env.http.get("/admin/oauth/clients", params={"kind": "other"}, headers=ADMIN)
    assert bad_kind.status_code == 422

    assert (await mcp_status(env, issued["access_token"])).status_code == 200
    deleted = await env.http.delete("/admin/oauth/clients/house-assistant", headers=ADMIN)
    assert deleted.status_code == 204
    assert (await mcp_status(env, issued["access_token"])).status_code == 401  # disconnected at once
    assert env.stack.query("SELECT count(*) FROM app.oauth_tokens WHERE client_id = 'house-assistant'") == [(0,)]
    again = await env.http.delete("/admin/oauth/clients/house-assistant", headers=ADMIN)
    assert again.status_code == 404 and "GET /admin/oauth/clients" in again.text
    # CIMD client ids are https URLs: the route takes them whole.
    url_id = await env.http.delete("/admin/oauth/clients/https://example.org/client.json", headers=ADMIN)
    assert url_id.status_code == 404 and "https://example.org/client.json" in url_id.text
