"""Analytics: the Streamlit dashboards embedded through the authenticated proxy (never reachable without a session)."""

from __future__ import annotations

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serve.admin_ui.guards import SessionDep, same_origin
from serve.admin_ui.proxy import PROXY_PREFIX
from serve.admin_ui.web import current_session, parts, render

router = APIRouter()


@router.get("/analytics", response_class=HTMLResponse)
async def analytics(request: Request, _: SessionDep) -> HTMLResponse:
    return render(request, "analytics/analytics.html", {"title": "Analytics", "embed": PROXY_PREFIX + "/"})


@router.api_route(PROXY_PREFIX, methods=["GET"], include_in_schema=False)
async def analytics_root(request: Request) -> Response:
    if current_session(request) is None:
        return Response("login required", status_code=401, media_type="text/plain")
    return RedirectResponse(PROXY_PREFIX + "/", status_code=307)


@router.api_route(PROXY_PREFIX + "/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"])
async def analytics_proxy(request: Request, path: str) -> Response:
    del path
    if current_session(request) is None:
        # Never forwarded: Streamlit is reachable only with an admin session.
        return Response("login required", status_code=401, media_type="text/plain")
    return await parts(request).proxy.http(request)


@router.websocket(PROXY_PREFIX + "/{path:path}")
async def analytics_socket(websocket: WebSocket, path: str) -> None:
    del path
    if current_session(websocket) is None or not same_origin(websocket):
        await websocket.close(code=1008)
        return
    await parts(websocket).proxy.websocket(websocket)
