"""Who may use the admin UI: a live session, its CSRF token on changes, and same-origin browsers."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from serve.admin_ui import session as sessions
from serve.admin_ui.web import parts


class NotLoggedIn(Exception):
    pass


class CsrfFailed(Exception):
    pass


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def require_session(request: Request) -> sessions.Session:
    """A live session; for state-changing methods also its CSRF token, from the `X-CSRF-Token` header (HTMX) or a
    `csrf_token` form field — never from the query string."""
    store = parts(request).sessions
    found = store.get(request.cookies.get(sessions.COOKIE_NAME))
    if found is None:
        raise NotLoggedIn
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            value = (await request.form()).get("csrf_token")
            sent = value if isinstance(value, str) else None
        if sent is None or not secrets.compare_digest(sent.encode(), found.csrf_token.encode()):
            raise CsrfFailed
    return found


def same_origin(connection: HTTPConnection) -> bool:
    """An `Origin` header, when the browser sends one, names this UI's own host (what the browser was given in the
    address bar: the Host header, which a reverse proxy must pass on). `null` — sandboxed frames, redirects from
    elsewhere — never matches. Compared by host and port, not scheme: behind a TLS proxy whose X-Forwarded-Proto
    is not trusted, the UI sees http while the browser says https."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True  # not a browser, or a same-origin GET: the CSRF token (or nothing to change) carries it
    parts = urlsplit(origin)
    host = connection.headers.get("host", "")
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}
    try:
        origin_port = parts.port or default.get(parts.scheme)
        own = urlsplit(f"//{host}")
        own_port = own.port or default.get(connection.url.scheme)
    except ValueError:
        return False
    if parts.hostname is None or own.hostname is None:
        return False
    same_port = origin_port == own_port or (own.port is None and origin_port in {80, 443})
    return parts.hostname == own.hostname and same_port


SessionDep = Annotated[sessions.Session, Depends(require_session)]
