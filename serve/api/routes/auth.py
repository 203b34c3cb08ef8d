"""`/auth/login`, `/auth/callback`, `/auth/logout`: connecting (and disconnecting) a Spotify account.

Thin: the flow lives in `serve.spotify_auth`. Every outcome is a small HTML page that says what happened and
what happens next; failures (denied consent, replayed or forged state, a Spotify error) store nothing.
"""

from __future__ import annotations

import html
from uuid import UUID

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.db import SessionFactory
from core.settings import Settings
from serve.api.deps import CipherDep, SettingsDep, SpotifyBudgetDep, is_admin_request
from serve.oauth.signin import resume_after_spotify
from serve.spotify_auth import (
    BROWSER_COOKIE,
    USER_COOKIE,
    OAuthFailure,
    accounts_for,
    complete_login,
    consume_state,
    disconnect,
    set_browser_cookie,
    sign_user,
    start_login,
    verify_user,
)

router = APIRouter(prefix="/auth", tags=["auth"])

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
    "h1{font-size:1.4rem}.muted{color:#555}a.button{display:inline-block;padding:.4rem .9rem;border:1px solid #333;"
    "border-radius:.3rem;text-decoration:none;color:#111}"
)


def page(title: str, paragraphs: list[str], *, status_code: int = 200, again: bool = False) -> HTMLResponse:
    """A minimal page; `paragraphs` are plain text (escaped here)."""
    body = "".join(f"<p>{html.escape(text)}</p>" for text in paragraphs)
    link = '<p><a class="button" href="/auth/login">Connect Spotify</a></p>' if again else ""
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · spotify-mcp</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body><h1>{html.escape(title)}</h1>{body}{link}</body></html>"
    )
    return HTMLResponse(document, status_code=status_code, headers={"Cache-Control": "no-store"})


def _failure_page(failure: OAuthFailure) -> HTMLResponse:
    return page(failure.title, [failure.message], status_code=failure.status_code, again=failure.status_code != 404)


def _secure(settings: Settings) -> bool:
    return settings.effective_redirect_uri.startswith("https://")


def _sessions(request: Request) -> SessionFactory:
    sessions: SessionFactory = request.app.state.sessions
    return sessions


@router.get("/login", summary="Connect a Spotify account (redirects to Spotify)", response_class=RedirectResponse)
async def login(request: Request, settings: SettingsDep, cipher: CipherDep, budget: SpotifyBudgetDep) -> Response:
    async with httpx.AsyncClient() as http:
        try:
            accounts = accounts_for(settings, http, budget)
        except OAuthFailure as failure:
            return _failure_page(failure)
        started = await start_login(
            _sessions(request), settings, cipher, accounts, browser_secret=request.cookies.get(BROWSER_COOKIE)
        )
    response = RedirectResponse(started.authorize_url, status_code=302)
    set_browser_cookie(response, settings, started.browser_secret)
    return response


@router.get("/callback", summary="Spotify redirects here after consent", response_class=HTMLResponse)
async def callback(
    request: Request,
    settings: SettingsDep,
    cipher: CipherDep,
    budget: SpotifyBudgetDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    if not state:
        return page(
            "This login link is not valid",
            ["Spotify's answer carried no state, so we cannot tell which login it belongs to. Nothing was stored."],
            status_code=400,
            again=True,
        )
    sessions = _sessions(request)
    async with httpx.AsyncClient() as http:
        try:
            accounts = accounts_for(settings, http, budget)
            verifier = await consume_state(sessions, cipher, state, request.cookies.get(BROWSER_COOKIE))
            if error is not None:
                denied = error == "access_denied"
                raise OAuthFailure(
                    "Spotify was not connected" if denied else "Spotify reported an error",
                    "You declined access on Spotify's page, so nothing was stored. You can connect any time."
                    if denied
                    else f"Spotify answered `{error}`. Nothing was stored.",
                )
            if not code:
                raise OAuthFailure("Spotify sent no authorization code", "Nothing was stored. Please start again.")
            connected = await complete_login(
                sessions, settings, cipher, accounts, http, code=code, code_verifier=verifier
            )
            # Started by an MCP client's /oauth/authorize: back to its consent page, signed in.
            resumed = await resume_after_spotify(sessions, settings, state, connected.user_id)
            if resumed is not None:
                resumed.delete_cookie(BROWSER_COOKIE, path="/auth")
                return resumed
        except OAuthFailure as failure:
            response = _failure_page(failure)
            response.delete_cookie(BROWSER_COOKIE, path="/auth")
            return response
    minutes = max(1, round(settings.collector_interval_seconds / 60))
    who = connected.display_name or connected.spotify_user_id
    paragraphs = [
        f"Spotify is connected for {who}.",
        (
            "What happens next: the collector fetches your recent plays within a minute or two (Spotify shows "
            f"only your last 50 plays), then checks for new plays about every {minutes} minutes, for good."
        ),
        (
            "Older history: request “Extended streaming history” under Spotify's “Download your data” and "
            "import the ZIP; it fills in everything before today."
        ),
        (
            f"Spotify ends this connection on {connected.refresh_token_expires_at:%d %B %Y} (six months after "
            "consent). Reconnect here before then; the admin UI reminds you."
        ),
    ]
    response = page("Spotify connected", paragraphs)
    response.delete_cookie(BROWSER_COOKIE, path="/auth")
    response.set_cookie(
        USER_COOKIE,
        sign_user(settings, connected.user_id),
        max_age=60 * 60 * 24 * 180,
        httponly=True,
        samesite="lax",
        secure=_secure(settings),
        path="/auth",
    )
    return response


@router.post("/logout", summary="Disconnect Spotify (history is kept)", response_class=HTMLResponse)
async def logout(request: Request, settings: SettingsDep, user_id: UUID | None = None) -> Response:
    """The browser that connected may disconnect itself; an admin may disconnect anyone (`?user_id=`)."""
    target = verify_user(settings, request.cookies.get(USER_COOKIE))
    if user_id is not None:
        if not is_admin_request(request, settings) and user_id != target:
            return page("Not allowed", ["Only an admin can disconnect another user."], status_code=403)
        target = user_id
    if target is None:
        return page(
            "Nothing to disconnect",
            ["This browser has not connected a Spotify account (or its cookie expired)."],
            status_code=400,
        )
    existed = await disconnect(_sessions(request), target)
    response = page(
        "Spotify disconnected" if existed else "Spotify was not connected",
        [
            "We deleted the stored Spotify tokens; no more plays will be collected. Your listening history stays.",
            "You can also remove the app's access on Spotify's account page (Apps).",
        ],
        again=True,
    )
    response.delete_cookie(USER_COOKIE, path="/auth")
    return response
