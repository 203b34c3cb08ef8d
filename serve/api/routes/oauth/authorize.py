"""`/oauth/authorize`: the request checked and signed, then sign-in or a consent page naming the client, its
redirect host and what it may read; the decision sends a code (with `iss`, RFC 9207) or an error back.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from core import tables
from core.db import unit_of_work
from core.settings import Settings
from serve.api.deps import SettingsDep
from serve.api.routes.oauth.pages import consent_page, error_page, signin_page
from serve.api.routes.oauth.support import NO_STORE, fetcher, sessions
from serve.oauth import signin
from serve.oauth.clients import find_client, redirect_uri_matches
from serve.oauth.common import (
    REQUEST_TTL,
    SCOPE,
    SCOPES_SUPPORTED,
    SESSION_COOKIE,
    issuer,
    mac,
    resource_url,
    sign,
    unsign,
)
from serve.oauth.errors import ClientError
from serve.oauth.tokens import create_code

router = APIRouter()


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
        client = await find_client(sessions(request), query.get("client_id"), fetcher(request))
    except ClientError as error:
        return error_page(f"Unknown or invalid client: {error.description}")
    redirect_uri = query.get("redirect_uri")
    if redirect_uri is None and len(client.redirect_uris) == 1:
        redirect_uri = client.redirect_uris[0]
    if redirect_uri is None or not redirect_uri_matches(client.redirect_uris, redirect_uri):
        return error_page(
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


async def _user_name(request: Request, user_id: UUID) -> str | None:
    async with unit_of_work(sessions(request)) as session:
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


async def show(request: Request, settings: Settings, blob: str, problem: str | None = None) -> Response:
    payload = unsign(settings, "authorize", blob)
    if payload is None:
        return error_page("This sign-in request expired or was altered. Start again from your assistant.")
    try:
        client = await find_client(sessions(request), str(payload["client_id"]), fetcher(request))
    except ClientError as error:
        return error_page(f"Unknown or invalid client: {error.description}")
    cookie = request.cookies.get(SESSION_COOKIE)
    user_id = signin.signed_in_user(settings, cookie)
    who = await _user_name(request, user_id) if user_id is not None else None
    if user_id is None or who is None or cookie is None:
        return signin_page(settings, client, blob, problem)
    return consent_page(settings, client, blob, payload, who, mac(settings, "csrf", cookie, blob))


@router.get("/oauth/authorize", summary="OAuth authorization endpoint (sign-in and consent)", response_model=None)
async def authorize(request: Request, settings: SettingsDep) -> Response:
    query = {key: values[0] for key, values in parse_qs(request.url.query, keep_blank_values=True).items()}
    checked = await _validated_request(request, settings, query)
    if isinstance(checked, Response):
        return checked
    return await show(request, settings, checked)


@router.get("/oauth/authorize/resume", include_in_schema=False, response_model=None)
async def resume(request: Request, settings: SettingsDep) -> Response:
    return await show(request, settings, request.query_params.get("request", ""))


@router.post("/oauth/authorize/decision", include_in_schema=False, response_model=None)
async def decision(request: Request, settings: SettingsDep) -> Response:
    form = await request.form()
    blob, csrf, choice = (str(form.get(name, "")) for name in ("request", "csrf", "decision"))
    payload = unsign(settings, "authorize", blob)
    cookie = request.cookies.get(SESSION_COOKIE)
    user_id = signin.signed_in_user(settings, cookie)
    if payload is None or user_id is None or cookie is None:
        return error_page("This sign-in request expired. Start again from your assistant.")
    if not csrf or csrf != mac(settings, "csrf", cookie, blob):
        return error_page("This form was not sent from our consent page.", 403)
    redirect_uri, state = str(payload["redirect_uri"]), payload.get("state")
    if choice != "allow":
        return _error_redirect(settings, redirect_uri, state, "access_denied", "the person declined")
    if await _user_name(request, user_id) is None:
        return error_page("This account is disabled.", 403)
    async with unit_of_work(sessions(request)) as session:
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
