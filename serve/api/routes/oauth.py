"""The OAuth 2.1 authorization server's HTTP face (MCP authorization, 2025-11-25 / 2026-07-28).

Metadata (RFC 8414, RFC 9728), `/oauth/authorize` (sign-in, then a consent page naming the client, its redirect
host and what it may read; `iss` in the response, RFC 9207), `/oauth/token` (authorization_code with PKCE S256,
refresh_token with rotation), `/oauth/register` (RFC 7591), `/oauth/revoke` (RFC 7009). The logic is in
`serve.oauth`.
"""

from __future__ import annotations

import base64
import html
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit
from uuid import UUID

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from core import tables
from core.db import SessionFactory, unit_of_work
from core.settings import Settings
from serve.api.deps import CipherDep, SettingsDep, SpotifyBudgetDep
from serve.api.request_input import InputError, parse_json, read_body
from serve.client_address import address_key
from serve.oauth import signin
from serve.oauth.cimd import CimdFetcher
from serve.oauth.clients import (
    Client,
    find_client,
    redirect_uri_matches,
    register_client,
    registration_wait,
)
from serve.oauth.common import (
    REQUEST_TTL,
    SCOPE,
    SCOPE_DESCRIPTIONS,
    SCOPES_SUPPORTED,
    SESSION_COOKIE,
    issuer,
    mac,
    resource_metadata_url,
    resource_url,
    sign,
    unsign,
)
from serve.oauth.errors import ClientError
from serve.oauth.tokens import GrantError, create_code, exchange_code, refresh, revoke_token
from serve.spotify_auth import BROWSER_COOKIE, OAuthFailure, accounts_for, set_browser_cookie, start_login
from serve.throttle import FailureThrottle

router = APIRouter(tags=["oauth"])

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
    "h1{font-size:1.35rem}.muted{color:#555}button,a.button{display:inline-block;padding:.45rem 1rem;"
    "border:1px solid #333;border-radius:.3rem;background:#fff;color:#111;text-decoration:none;font-size:1rem}"
    "button.primary{background:#1db954;border-color:#1db954;color:#fff}input{padding:.35rem;margin:.2rem 0}"
    "form{margin:1rem 0}.box{border:1px solid #ccc;border-radius:.4rem;padding:.8rem 1rem;margin:1rem 0}"
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _page(title: str, body_html: str, status_code: int = 200) -> HTMLResponse:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · spotify-mcp'
        f'</title><meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style>'
        f"</head><body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    headers = {**NO_STORE, "X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
    return HTMLResponse(document, status_code=status_code, headers=headers)


def _error_page(message: str, status_code: int = 400) -> HTMLResponse:
    return _page("This sign-in request cannot continue", f"<p>{html.escape(message)}</p>", status_code)


def _sessions(request: Request) -> SessionFactory:
    sessions: SessionFactory = request.app.state.sessions
    return sessions


def _fetcher(request: Request) -> CimdFetcher:
    fetcher = getattr(request.app.state, "oauth_cimd_fetcher", None)
    if isinstance(fetcher, CimdFetcher):
        return fetcher
    settings: Settings = request.app.state.settings
    return CimdFetcher.for_settings(settings)


def _oauth_error(error: str, description: str, status_code: int = 400) -> JSONResponse:
    headers = dict(NO_STORE)
    if error == "invalid_client" and status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="spotify-mcp oauth"'
    return JSONResponse({"error": error, "error_description": description}, status_code, headers=headers)


# --- metadata ---------------------------------------------------------------------------------------------------


def authorization_server_metadata(settings: Settings) -> dict[str, Any]:
    base = issuer(settings)
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "registration_endpoint": f"{base}/oauth/register",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": True,
        "service_documentation": f"{base}/docs",
    }


@router.get("/.well-known/oauth-authorization-server", summary="OAuth authorization server metadata (RFC 8414)")
async def as_metadata(settings: SettingsDep) -> JSONResponse:
    return JSONResponse(authorization_server_metadata(settings), headers={"Cache-Control": "public, max-age=300"})


def protected_resource_metadata(settings: Settings) -> dict[str, Any]:
    return {
        "resource": resource_url(settings),
        "authorization_servers": [issuer(settings)],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "bearer_methods_supported": ["header"],
        "resource_name": "spotify-mcp (your Spotify listening history)",
        "resource_documentation": f"{issuer(settings)}/docs",
    }


@router.get("/.well-known/oauth-protected-resource/mcp", summary="Protected resource metadata of /mcp (RFC 9728)")
async def pr_metadata(settings: SettingsDep) -> JSONResponse:
    return JSONResponse(protected_resource_metadata(settings), headers={"Cache-Control": "public, max-age=300"})


@router.get("/.well-known/oauth-protected-resource", include_in_schema=False)
async def pr_metadata_root(settings: SettingsDep) -> JSONResponse:
    return await pr_metadata(settings)


# --- authorization ----------------------------------------------------------------------------------------------


def _redirect(redirect_uri: str, params: dict[str, str]) -> RedirectResponse:
    parts = urlsplit(redirect_uri)
    query = "&".join(item for item in (parts.query, urlencode(params)) if item)
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302, headers=NO_STORE)


def _error_redirect(settings: Settings, redirect_uri: str, state: str | None, error: str, text: str) -> Response:
    params = {"error": error, "error_description": text, "iss": issuer(settings)}
    if state is not None:
        params["state"] = state
    return _redirect(redirect_uri, params)


async def _validated_request(request: Request, settings: Settings, query: dict[str, str]) -> Response | str:
    """The signed authorization request, or a response (error page before the redirect URI is trusted; an error
    redirect after)."""
    try:
        client = await find_client(_sessions(request), query.get("client_id"), _fetcher(request))
    except ClientError as error:
        return _error_page(f"Unknown or invalid client: {error.description}")
    redirect_uri = query.get("redirect_uri")
    if redirect_uri is None and len(client.redirect_uris) == 1:
        redirect_uri = client.redirect_uris[0]
    if redirect_uri is None or not redirect_uri_matches(client.redirect_uris, redirect_uri):
        return _error_page(
            "The redirect URI is not one this client registered (exact match required; "
            "a loopback http one may differ in its port)."
        )
    state = query.get("state")
    if query.get("response_type") != "code":
        return _error_redirect(settings, redirect_uri, state, "unsupported_response_type", "only response_type=code")
    challenge = query.get("code_challenge")
    if not challenge or query.get("code_challenge_method") != "S256" or not 43 <= len(challenge) <= 128:
        return _error_redirect(settings, redirect_uri, state, "invalid_request", "PKCE with S256 is required")
    scope = query.get("scope") or SCOPE
    if not set(scope.split()) <= set(SCOPES_SUPPORTED):
        return _error_redirect(settings, redirect_uri, state, "invalid_scope", f"supported: {SCOPE}")
    resource = query.get("resource") or resource_url(settings)
    if resource.rstrip("/") != resource_url(settings):
        return _error_redirect(
            settings, redirect_uri, state, "invalid_target", f"the resource is {resource_url(settings)}"
        )
    payload = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "scope": " ".join(sorted(set(scope.split()))),
        "resource": resource_url(settings),
    }
    return sign(settings, "authorize", payload, REQUEST_TTL)


def _signin_page(settings: Settings, client: Client, blob: str, problem: str | None = None) -> HTMLResponse:
    quoted = html.escape(blob, quote=True)
    warning = f'<p style="color:#a00">{html.escape(problem)}</p>' if problem else ""
    spotify = (
        f'<div class="box"><p><a class="button" href="/oauth/signin/spotify?{urlencode({"request": blob})}">'
        'Sign in with Spotify</a></p><p class="muted">New here? Signing in with Spotify creates your account '
        "and starts collecting your plays.</p></div>"
        if settings.spotify_configured
        else ""
    )
    body = (
        f"<p><strong>{html.escape(client.display_name)}</strong> wants to connect to your listening history on "
        f"{html.escape(urlsplit(issuer(settings)).netloc)}. First, sign in.</p>{warning}{spotify}"
        '<div class="box"><p>Imported your history as a ZIP (no Spotify connection)? Use the name and password '
        "your admin set:</p>"
        f'<form method="post" action="/oauth/signin/password"><input type="hidden" name="request" value="{quoted}">'
        '<label>Name <input name="login_name" autocomplete="username" required></label><br>'
        '<label>Password <input name="password" type="password" autocomplete="current-password" required></label>'
        '<br><button type="submit">Sign in</button></form>'
        '<p class="muted">Got a one-time sign-in link from your admin? Open it, then connect again.</p></div>'
    )
    return _page("Sign in to spotify-mcp", body)


async def _user_name(request: Request, user_id: UUID) -> str | None:
    async with unit_of_work(_sessions(request)) as session:
        row = (
            await session.execute(
                select(tables.users.c.display_name, tables.users.c.spotify_user_id, tables.users.c.status).where(
                    tables.users.c.id == user_id
                )
            )
        ).first()
    if row is None or row.status == "disabled":
        return None
    return str(row.display_name or row.spotify_user_id or user_id)


def _consent_page(
    settings: Settings, client: Client, blob: str, payload: dict[str, Any], who: str, csrf: str
) -> HTMLResponse:
    redirect_host = urlsplit(str(payload["redirect_uri"])).netloc
    if client.kind == "cimd":
        origin = f"identified by its metadata document at {urlsplit(client.client_id).netloc}"
    elif client.kind == "dcr":
        origin = "registered itself automatically (its name is not verified)"
    else:
        origin = "registered by your admin"
    reads = "".join(f"<li>{html.escape(SCOPE_DESCRIPTIONS[s])}</li>" for s in str(payload["scope"]).split())
    hidden = (
        f'<input type="hidden" name="request" value="{html.escape(blob, quote=True)}">'
        f'<input type="hidden" name="csrf" value="{html.escape(csrf, quote=True)}">'
    )
    body = (
        f"<p>Signed in as <strong>{html.escape(who)}</strong>.</p>"
        f'<div class="box"><p><strong>{html.escape(client.display_name)}</strong> ({html.escape(origin)}) '
        "wants to:</p>"
        f"<ul>{reads}</ul><p>It can only read; it cannot change anything or see other people's data.</p>"
        f"<p>After you allow, you go back to <strong>{html.escape(redirect_host)}</strong>.</p></div>"
        f'<form method="post" action="/oauth/authorize/decision">{hidden}'
        '<button class="primary" type="submit" name="decision" value="allow">Allow</button> '
        '<button type="submit" name="decision" value="deny">Deny</button></form>'
        '<p class="muted">You can disconnect it any time (ask your admin, or remove the connector in your '
        "assistant).</p>"
    )
    return _page(f"Connect {client.display_name}?", body)


async def _show(request: Request, settings: Settings, blob: str, problem: str | None = None) -> Response:
    payload = unsign(settings, "authorize", blob)
    if payload is None:
        return _error_page("This sign-in request expired or was altered. Start again from your assistant.")
    try:
        client = await find_client(_sessions(request), str(payload["client_id"]), _fetcher(request))
    except ClientError as error:
        return _error_page(f"Unknown or invalid client: {error.description}")
    cookie = request.cookies.get(SESSION_COOKIE)
    user_id = signin.signed_in_user(settings, cookie)
    who = await _user_name(request, user_id) if user_id is not None else None
    if user_id is None or who is None or cookie is None:
        return _signin_page(settings, client, blob, problem)
    return _consent_page(settings, client, blob, payload, who, mac(settings, "csrf", cookie, blob))


@router.get("/oauth/authorize", summary="OAuth authorization endpoint (sign-in and consent)", response_model=None)
async def authorize(request: Request, settings: SettingsDep) -> Response:
    query = {key: values[0] for key, values in parse_qs(request.url.query, keep_blank_values=True).items()}
    checked = await _validated_request(request, settings, query)
    if isinstance(checked, Response):
        return checked
    return await _show(request, settings, checked)


@router.get("/oauth/authorize/resume", include_in_schema=False, response_model=None)
async def resume(request: Request, settings: SettingsDep) -> Response:
    return await _show(request, settings, request.query_params.get("request", ""))


@router.post("/oauth/authorize/decision", include_in_schema=False, response_model=None)
async def decision(request: Request, settings: SettingsDep) -> Response:
    form = await request.form()
    blob, csrf, choice = (str(form.get(name, "")) for name in ("request", "csrf", "decision"))
    payload = unsign(settings, "authorize", blob)
    cookie = request.cookies.get(SESSION_COOKIE)
    user_id = signin.signed_in_user(settings, cookie)
    if payload is None or user_id is None or cookie is None:
        return _error_page("This sign-in request expired. Start again from your assistant.")
    if not csrf or csrf != mac(settings, "csrf", cookie, blob):
        return _error_page("This form was not sent from our consent page.", 403)
    redirect_uri, state = str(payload["redirect_uri"]), payload.get("state")
    if choice != "allow":
        return _error_redirect(settings, redirect_uri, state, "access_denied", "the person declined")
    if await _user_name(request, user_id) is None:
        return _error_page("This account is disabled.", 403)
    async with unit_of_work(_sessions(request)) as session:
        code = await create_code(
            session,
            client_id=str(payload["client_id"]),
            user_id=user_id,
            redirect_uri=redirect_uri,
            code_challenge=str(payload["code_challenge"]),
            resource=str(payload["resource"]),
            scope=str(payload["scope"]),
        )
    params = {"code": code, "iss": issuer(settings)}
    if state is not None:
        params["state"] = str(state)
    return _redirect(redirect_uri, params)


# --- sign-in ----------------------------------------------------------------------------------------------------


def _resume_url(blob: str) -> str:
    return f"{signin.RESUME_PATH}?{urlencode({'request': blob})}"


@router.get("/oauth/signin/spotify", include_in_schema=False, response_model=None)
async def signin_spotify(
    request: Request, settings: SettingsDep, cipher: CipherDep, budget: SpotifyBudgetDep
) -> Response:
    """Start the existing Spotify login; `/auth/callback` brings the person back to the consent page."""
    blob = request.query_params.get("request", "")
    if unsign(settings, "authorize", blob) is None:
        return _error_page("This sign-in request expired or was altered. Start again from your assistant.")
    async with httpx.AsyncClient() as http:
        try:
            accounts = accounts_for(settings, http, budget)
        except OAuthFailure as failure:
            return _error_page(failure.message, failure.status_code)
        started = await start_login(
            _sessions(request), settings, cipher, accounts, browser_secret=request.cookies.get(BROWSER_COOKIE)
        )
    state = parse_qs(urlsplit(started.authorize_url).query)["state"][0]
    await signin.remember_resume(_sessions(request), state, _resume_url(blob))
    response = RedirectResponse(started.authorize_url, status_code=302)
    set_browser_cookie(response, settings, started.browser_secret)
    return response


@router.post("/oauth/signin/password", include_in_schema=False, response_model=None)
async def signin_password(request: Request, settings: SettingsDep) -> Response:
    form = await request.form()
    blob = str(form.get("request", ""))
    if unsign(settings, "authorize", blob) is None:
        return _error_page("This sign-in request expired or was altered. Start again from your assistant.")
    throttle: FailureThrottle = request.app.state.signin_throttle
    address = address_key(request)
    wait = throttle.wait_seconds(address)
    if wait:
        response = await _show(
            request, settings, blob, f"Too many failed sign-ins from your address: wait {wait} seconds, then try again."
        )
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response
    async with unit_of_work(_sessions(request)) as session:
        user_id = await signin.check_password(session, str(form.get("login_name", "")), str(form.get("password", "")))
    if user_id is None:
        throttle.failed(address)
        response = await _show(request, settings, blob, "That name and password do not match.")
        response.status_code = 401
        return response
    throttle.succeeded(address)
    redirect = RedirectResponse(_resume_url(blob), status_code=303)
    signin.set_session_cookie(redirect, settings, user_id)
    return redirect


@router.get("/oauth/signin/link", include_in_schema=False, response_model=None)
async def signin_link(request: Request, settings: SettingsDep) -> Response:
    token = request.query_params.get("token", "")
    async with unit_of_work(_sessions(request)) as session:
        user_id = await signin.consume_link(session, token) if token else None
    if user_id is None:
        return _error_page(
            "This sign-in link is not valid, was already used, or expired. Ask your admin for a new one."
        )
    blob = request.query_params.get("request")
    if blob and unsign(settings, "authorize", blob) is not None:
        redirect = RedirectResponse(_resume_url(blob), status_code=303)
    else:
        redirect = RedirectResponse("/oauth/signed-in", status_code=303)
    signin.set_session_cookie(redirect, settings, user_id)
    return redirect


@router.get("/oauth/signed-in", include_in_schema=False)
async def signed_in() -> HTMLResponse:
    return _page(
        "You are signed in",
        "<p>For the next hour this browser is signed in. Go back to your assistant (ChatGPT, Claude) and connect "
        "spotify-mcp; you will only be asked to allow it.</p>",
    )


# --- token, registration, revocation ----------------------------------------------------------------------------


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except ValueError:
            return None, None
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    return form.get("client_id"), form.get("client_secret")


async def _authenticated_client(request: Request, form: dict[str, str]) -> Client | JSONResponse:
    client_id, secret = _client_credentials(request, form)
    try:
        client = await find_client(_sessions(request), client_id, _fetcher(request))
    except ClientError as error:
        return _oauth_error("invalid_client", error.description, 401)
    if not client.check_secret(secret):
        return _oauth_error("invalid_client", "client authentication failed", 401)
    return client


async def _form(request: Request) -> dict[str, str]:
    return {key: str(value) for key, value in (await request.form()).items()}


@router.post("/oauth/token", summary="OAuth token endpoint (authorization_code + PKCE, refresh_token)")
async def token(request: Request, settings: SettingsDep) -> JSONResponse:
    form = await _form(request)
    client = await _authenticated_client(request, form)
    if isinstance(client, JSONResponse):
        return client
    grant_type = form.get("grant_type")
    async with _sessions(request)() as session:
        try:
            if grant_type == "authorization_code":
                issued = await exchange_code(
                    session,
                    settings,
                    client_id=client.client_id,
                    code=form.get("code"),
                    redirect_uri=form.get("redirect_uri"),
                    code_verifier=form.get("code_verifier"),
                    resource=form.get("resource"),
                )
            elif grant_type == "refresh_token":
                issued = await refresh(
                    session,
                    settings,
                    client_id=client.client_id,
                    refresh_token=form.get("refresh_token"),
                    resource=form.get("resource"),
                    scope=form.get("scope"),
                )
            else:
                raise GrantError("unsupported_grant_type", "authorization_code or refresh_token")
        except GrantError as error:
            await session.commit()  # a burnt code or a revoked family must stay so
            return _oauth_error(error.error, error.description, error.status_code)
        await session.commit()
    return JSONResponse(issued.body(), headers=NO_STORE)


MAX_REGISTRATION_BYTES = 64 * 1024


@router.post("/oauth/register", status_code=201, summary="Dynamic client registration (RFC 7591)")
async def register(request: Request, settings: SettingsDep) -> JSONResponse:
    try:
        body = await read_body(request, MAX_REGISTRATION_BYTES)
    except InputError:
        return _oauth_error(
            "invalid_client_metadata", f"the registration body is larger than {MAX_REGISTRATION_BYTES // 1024} KB", 413
        )
    try:
        raw = parse_json(body)
    except InputError as error:
        return _oauth_error("invalid_client_metadata", f"the body must be a JSON object: {error}")
    address = address_key(request)
    async with _sessions(request)() as session:
        wait = await registration_wait(session, settings.oauth_max_registrations_per_hour, address)
        if wait:
            response = _oauth_error(
                "temporarily_unavailable",
                f"more than {settings.oauth_max_registrations_per_hour} clients registered from your address in the "
                f"last hour (OAUTH_MAX_REGISTRATIONS_PER_HOUR); try again in {wait} seconds",
                429,
            )
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            _, _, answer = await register_client(session, raw, registered_from=address)
        except ClientError as error:
            return _oauth_error(error.error, error.description)
        await session.commit()
    return JSONResponse(answer, status_code=201, headers=NO_STORE)


@router.post("/oauth/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> Response:
    form = await _form(request)
    client = await _authenticated_client(request, form)
    if isinstance(client, JSONResponse):
        return client
    value = form.get("token")
    if not value:
        return _oauth_error("invalid_request", "token is required")
    async with unit_of_work(_sessions(request)) as session:
        await revoke_token(session, value, client.client_id)
    return Response(status_code=200, headers=NO_STORE)


__all__ = ["authorization_server_metadata", "protected_resource_metadata", "resource_metadata_url", "router"]
