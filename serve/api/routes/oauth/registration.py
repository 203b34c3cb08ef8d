"""Dynamic client registration, `/oauth/register` (RFC 7591), limited per client address."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serve.api.deps import SettingsDep
from serve.api.request_input import InputError, parse_json, read_body
from serve.api.routes.oauth.support import NO_STORE, oauth_error, sessions
from serve.client_address import address_key
from serve.oauth.clients import register_client, registration_wait
from serve.oauth.errors import ClientError

router = APIRouter()


MAX_REGISTRATION_BYTES = 64 * 1024


@router.post("/oauth/register", status_code=201, summary="Dynamic client registration (RFC 7591)")
async def register(request: Request, settings: SettingsDep) -> JSONResponse:
    try:
        body = await read_body(request, MAX_REGISTRATION_BYTES)
    except InputError:
        return oauth_error(
            "invalid_client_metadata", f"the registration body is larger than {MAX_REGISTRATION_BYTES // 1024} KB", 413
        )
    try:
        raw = parse_json(body)
    except InputError as error:
        return oauth_error("invalid_client_metadata", f"the body must be a JSON object: {error}")
    address = address_key(request)
    async with sessions(request)() as session:
        wait = await registration_wait(session, settings.oauth_max_registrations_per_hour, address)
        if wait:
            response = oauth_error(
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
            return oauth_error(error.error, error.description)
        await session.commit()
    return JSONResponse(answer, status_code=201, headers=NO_STORE)
