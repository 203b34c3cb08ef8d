"""What `spotify-mcp dashboards` runs: the Streamlit app (streamlit_app.py) behind a gate that serves nothing —
no page, no script, no static file, no WebSocket, not even the health check — to a request that lacks the
per-start secret the admin UI's authenticated proxy adds (issue 16.2).

Streamlit's own port is reachable by anyone on the machine (or the compose network); without the gate it would
serve every page, the SQL explorer included, with no session. The secret comes from DASHBOARDS_PROXY_SECRET,
which the CLI sets for this process and gives the admin UI too; without it the app refuses to start. Like the
rest of `dashboards/`, this imports nothing of ours (the header name is repeated in serve/admin_ui/proxy.py).
"""

from __future__ import annotations

import hmac
import os
import sys
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

SECRET_ENV = "DASHBOARDS_PROXY_SECRET"
SECRET_HEADER = b"x-spotify-mcp-proxy-key"
MIN_SECRET_LENGTH = 32


class RequireProxySecret:
    """Pure ASGI: checks every HTTP request and WebSocket handshake before Streamlit sees it."""

    def __init__(self, app: ASGIApp, secret: str | None = None) -> None:
        self.app = app
        value = secret if secret is not None else os.environ.get(SECRET_ENV, "")
        if len(value) < MIN_SECRET_LENGTH:
            sys.exit(
                f"{SECRET_ENV} is missing or shorter than {MIN_SECRET_LENGTH} characters: start the dashboards with "
                "`spotify-mcp dashboards` (or `spotify-mcp up`), which set it and give the admin UI the same value"
            )
        self.secret = value.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        presented = dict(scope["headers"]).get(SECRET_HEADER, b"")
        if hmac.compare_digest(presented, self.secret):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: the handshake answers 403
            return
        refusal = PlainTextResponse(
            "The analytics are served only through the admin UI (sign in there, then open Analytics).",
            status_code=403,
        )
        await refusal(scope, receive, send)


app = st.App(Path(__file__).resolve().parent / "streamlit_app.py", middleware=[Middleware(RequireProxySecret)])
