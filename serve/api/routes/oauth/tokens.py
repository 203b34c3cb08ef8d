"""`/oauth/token` (authorization_code with PKCE S256, refresh_token with rotation) and `/oauth/revoke`
(RFC 7009), with the client authentication they share.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from core.db import unit_of_work
from serve.api.deps import SettingsDep
from serve.api.routes.oauth.support import NO_STORE, fetcher, oauth_error, sessions
from serve.oauth.clients import Client, find_client
from serve.oauth.errors import ClientError
from serve.oauth.tokens import GrantError, exchange_code, refresh, revoke_token

router = APIRouter()


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
        client = await find_client(sessions(request), client_id, fetcher(request))
    except ClientError as error:
        return oauth_error("invalid_client", error.description, 401)
    if not client.check_secret(secret):
        return oauth_error("invalid_client", "client authentication failed", 401)
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
    async with sessions(request)() as session:
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
            return oauth_error(error.error, error.description, error.status_code)
        await session.commit()
    return JSONResponse(issued.body(), headers=NO_STORE)


@router.post("/oauth/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> Response:
    form = await _form(request)
    client = await _authenticated_client(request, form)
    if isinstance(client, JSONResponse):
        return client
    value = form.get("token")
    if not value:
        return oauth_error("invalid_request", "token is required")
    async with unit_of_work(sessions(request)) as session:
        await revoke_token(session, value, client.client_id)
    return Response(status_code=200, headers=NO_STORE)
