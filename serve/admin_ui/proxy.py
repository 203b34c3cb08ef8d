"""An authenticated reverse proxy to the Streamlit app (HTTP and its WebSocket at `_stcore/stream`).

Streamlit listens on loopback (or the internal compose network) with `--server.baseUrlPath` equal to the
proxy path, so paths are forwarded unchanged and Streamlit's own links keep working. The admin UI checks
the session before anything is forwarded; the session cookie itself is never passed on. Every forwarded request
carries the dashboards' proxy secret (`SECRET_HEADER`), without which the Streamlit process serves nothing
(dashboards/server.py): its own port is useless to anyone who reaches it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import websockets
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection

from core.settings import Settings
from serve.admin_ui.session import COOKIE_NAME

logger = logging.getLogger(__name__)

PROXY_PREFIX = "/analytics/app"
# Streamlit's --server.baseUrlPath for this proxy (no leading or trailing slash).
STREAMLIT_BASE_PATH = PROXY_PREFIX.strip("/")

# Must equal dashboards/server.py (which imports nothing of ours).
SECRET_ENV = "DASHBOARDS_PROXY_SECRET"
SECRET_HEADER = "x-spotify-mcp-proxy-key"
# How long a closing WebSocket may take for its close handshake before its connection is dropped anyway.
CLOSE_TIMEOUT_SECONDS = 5.0


def proxy_secret(settings: Settings) -> str:
    """DASHBOARDS_PROXY_SECRET (`up` makes a new one at every start), else one derived from the admin UI's session
    secret or admin credential, so that separately started `admin` and `dashboards` processes (compose) agree
    without another setting."""
    if settings.dashboards_proxy_secret is not None:
        return settings.dashboards_proxy_secret.get_secret_value()
    for secret in (settings.session_secret, settings.admin_token, settings.admin_password):
        if secret is not None:
            digest = hmac.new(secret.get_secret_value().encode(), b"spotify-mcp dashboards proxy", hashlib.sha256)
            return digest.hexdigest()
    raise ValueError("set DASHBOARDS_PROXY_SECRET, SESSION_SECRET or the admin credential")


HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


def _forward_cookies(raw: str | None) -> str | None:
    """The request's cookies minus the admin session (Streamlit needs its own XSRF cookie)."""
    if not raw:
        return None
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return None
    kept = [f"{name}={morsel.coded_value}" for name, morsel in jar.items() if name != COOKIE_NAME]
    return "; ".join(kept) or None


class StreamlitProxy:
    def __init__(self, upstream: str, secret: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.secret = secret
        self._client = httpx.AsyncClient(base_url=self.upstream, timeout=httpx.Timeout(60.0, connect=5.0))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def http(self, request: Request) -> Response:
        headers = {
            key: value
            for key, value in request.headers.items()
            if key.lower() not in HOP_BY_HOP and key.lower() not in {"cookie", "authorization", SECRET_HEADER}
        }
        cookies = _forward_cookies(request.headers.get("cookie"))
        if cookies:
            headers["cookie"] = cookies
        headers["x-forwarded-prefix"] = PROXY_PREFIX
        headers[SECRET_HEADER] = self.secret
        body = await request.body()
        upstream_request = self._client.build_request(
            request.method, request.url.path, params=request.url.query or None, headers=headers, content=body
        )
        try:
            upstream = await self._client.send(upstream_request, stream=True)
        except httpx.HTTPError:
            return Response(
                "The analytics app (Streamlit) is not running or not reachable from the admin UI.",
                status_code=502,
                media_type="text/plain",
            )
        response_headers = [
            (key, value) for key, value in upstream.headers.multi_items() if key.lower() not in HOP_BY_HOP
        ]

        async def body_iter() -> AsyncIterator[bytes]:
            async for chunk in upstream.aiter_raw():
                yield chunk

        response = StreamingResponse(
            body_iter(), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose)
        )
        response.raw_headers = [(key.lower().encode(), value.encode()) for key, value in response_headers]
        return response

    async def websocket(self, websocket: WebSocket) -> None:
        target = "ws" + self.upstream.removeprefix("http") + websocket.url.path
        if websocket.url.query:
            target += "?" + websocket.url.query
        requested = [
            part.strip() for part in websocket.headers.get("sec-websocket-protocol", "").split(",") if part.strip()
        ]
        extra: dict[str, str] = {SECRET_HEADER: self.secret}
        cookies = _forward_cookies(websocket.headers.get("cookie"))
        if cookies:
            extra["Cookie"] = cookies
        try:
            upstream = await websockets.connect(
                target,
                subprotocols=[websockets.Subprotocol(item) for item in requested] or None,
                additional_headers=extra,
                max_size=None,
                open_timeout=10,
                close_timeout=CLOSE_TIMEOUT_SECONDS,
                ping_interval=None,
            )
        except (OSError, websockets.WebSocketException, TimeoutError) as error:
            logger.warning("streamlit websocket unreachable: %s", type(error).__name__)
            await websocket.close(code=1011)
            return
        await websocket.accept(subprotocol=upstream.subprotocol)
        await _relay(websocket, upstream)


async def _relay(client: WebSocket, upstream: ClientConnection) -> None:
    async def client_to_upstream() -> None:
        try:
            while True:
                message = await client.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    await upstream.send(message["bytes"])
                elif message.get("text") is not None:
                    await upstream.send(message["text"])
        except WebSocketDisconnect, websockets.ConnectionClosed:
            pass

    async def upstream_to_client() -> None:
        try:
            async for message in upstream:
                if isinstance(message, bytes):
                    await client.send_bytes(message)
                else:
                    await client.send_text(message)
        except WebSocketDisconnect, websockets.ConnectionClosed, RuntimeError:
            pass

    tasks = [asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # When either side ends, end both: cancel the other direction and wait for it, then close each connection
        # (a close handshake, bounded in time), so neither socket is left half-open in CLOSE-WAIT.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(upstream.close(), CLOSE_TIMEOUT_SECONDS)
        with contextlib.suppress(Exception):
            await client.close()
