"""Sign-in for the authorization flow: with Spotify, with a local name and password (throttled per address), or
with a one-time link from the admin; each comes back to the consent page.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.db import unit_of_work
from serve.api.deps import CipherDep, SettingsDep, SpotifyBudgetDep
from serve.api.routes.oauth.authorize import show
from serve.api.routes.oauth.pages import error_page, page
from serve.api.routes.oauth.support import sessions
from serve.client_address import address_key
from serve.oauth import signin
from serve.oauth.common import unsign
from serve.spotify_auth import BROWSER_COOKIE, OAuthFailure, accounts_for, set_browser_cookie, start_login
from serve.throttle import FailureThrottle

router = APIRouter()


def _resume_url(blob: str) -> str:
    return f"{signin.RESUME_PATH}?{urlencode({'request': blob})}"


@router.get("/oauth/signin/spotify", include_in_schema=False, response_model=None)
async def signin_spotify(
    request: Request, settings: SettingsDep, cipher: CipherDep, budget: SpotifyBudgetDep
) -> Response:
    """Start the existing Spotify login; `/auth/callback` brings the person back to the consent page."""
    blob = request.query_params.get("request", "")
    if unsign(settings, "authorize", blob) is None:
        return error_page("This sign-in request expired or was altered. Start again from your assistant.")
    async with httpx.AsyncClient() as http:
        try:
            accounts = accounts_for(settings, http, budget)
        except OAuthFailure as failure:
            return error_page(failure.message, failure.status_code)
        started = await start_login(
            sessions(request), settings, cipher, accounts, browser_secret=request.cookies.get(BROWSER_COOKIE)
        )
    state = parse_qs(urlsplit(started.authorize_url).query)["state"][0]
    await signin.remember_resume(sessions(request), state, _resume_url(blob))
    response = RedirectResponse(started.authorize_url, status_code=302)
    set_browser_cookie(response, settings, started.browser_secret)
    return response


@router.post("/oauth/signin/password", include_in_schema=False, response_model=None)
async def signin_password(request: Request, settings: SettingsDep) -> Response:
    form = await request.form()
    blob = str(form.get("request", ""))
    if unsign(settings, "authorize", blob) is None:
        return error_page("This sign-in request expired or was altered. Start again from your assistant.")
    throttle: FailureThrottle = request.app.state.signin_throttle
    address = address_key(request)
    wait = throttle.wait_seconds(address)
    if wait:
        response = await show(
            request, settings, blob, f"Too many failed sign-ins from your address: wait {wait} seconds, then try again."
        )
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response
    async with unit_of_work(sessions(request)) as session:
        user_id = await signin.check_password(session, str(form.get("login_name", "")), str(form.get("password", "")))
    if user_id is None:
        throttle.failed(address)
        response = await show(request, settings, blob, "That name and password do not match.")
        response.status_code = 401
        return response
    throttle.succeeded(address)
    redirect = RedirectResponse(_resume_url(blob), status_code=303)
    signin.set_session_cookie(redirect, settings, user_id)
    return redirect


@router.get("/oauth/signin/link", include_in_schema=False, response_model=None)
async def signin_link(request: Request, settings: SettingsDep) -> Response:
    token = request.query_params.get("token", "")
    async with unit_of_work(sessions(request)) as session:
        user_id = await signin.consume_link(session, token) if token else None
    if user_id is None:
        return error_page("This sign-in link is not valid, was already used, or expired. Ask your admin for a new one.")
    blob = request.query_params.get("request")
    if blob and unsign(settings, "authorize", blob) is not None:
        redirect = RedirectResponse(_resume_url(blob), status_code=303)
    else:
        redirect = RedirectResponse("/oauth/signed-in", status_code=303)
    signin.set_session_cookie(redirect, settings, user_id)
    return redirect


@router.get("/oauth/signed-in", include_in_schema=False)
async def signed_in() -> HTMLResponse:
    return page(
        "You are signed in",
        "<p>For the next hour this browser is signed in. Go back to your assistant (ChatGPT, Claude) and connect "
        "spotify-mcp; you will only be asked to allow it.</p>",
    )
