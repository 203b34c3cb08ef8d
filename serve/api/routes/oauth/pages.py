"""The HTML pages of the authorization flow: the page frame, the error page, sign-in and consent."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi.responses import HTMLResponse

from core.settings import Settings
from serve.api.routes.oauth.support import NO_STORE
from serve.oauth.clients import Client
from serve.oauth.common import SCOPE_DESCRIPTIONS, issuer

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
    "h1{font-size:1.35rem}.muted{color:#555}button,a.button{display:inline-block;padding:.45rem 1rem;"
    "border:1px solid #333;border-radius:.3rem;background:#fff;color:#111;text-decoration:none;font-size:1rem}"
    "button.primary{background:#1db954;border-color:#1db954;color:#fff}input{padding:.35rem;margin:.2rem 0}"
    "form{margin:1rem 0}.box{border:1px solid #ccc;border-radius:.4rem;padding:.8rem 1rem;margin:1rem 0}"
)


def page(title: str, body_html: str, status_code: int = 200) -> HTMLResponse:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · spotify-mcp'
        f'</title><meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style>'
        f"</head><body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    headers = {**NO_STORE, "X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
    return HTMLResponse(document, status_code=status_code, headers=headers)


def error_page(message: str, status_code: int = 400) -> HTMLResponse:
    return page("This sign-in request cannot continue", f"<p>{html.escape(message)}</p>", status_code)


def signin_page(settings: Settings, client: Client, blob: str, problem: str | None = None) -> HTMLResponse:
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
    return page("Sign in to spotify-mcp", body)


def consent_page(
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
    return page(f"Connect {client.display_name}?", body)
