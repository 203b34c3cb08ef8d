"""Users: the list, a user's page, creating local users, control actions, time zone, deletion, connecting Spotify."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.settings import AuthMode
from serve.admin_ui.guards import SessionDep
from serve.admin_ui.web import call, is_htmx, message, parts, render

router = APIRouter()

USER_ACTIONS = {
    "pause": "Paused",
    "resume": "Resumed",
    "initial-sync": "Initial sync requested",
    "resync": "Poll requested",
}


async def users_context(request: Request, offset: int, status: str | None, q: str | None) -> dict[str, Any]:
    page = await call(request, "GET", "/admin/users", params={"limit": 25, "offset": offset, "status": status, "q": q})
    return {"page": page, "status": status or "", "q": q or "", "offset": offset}


@router.get("/users", response_class=HTMLResponse)
async def users_page(
    request: Request, _: SessionDep, offset: int = 0, status: str | None = None, q: str | None = None
) -> HTMLResponse:
    context = await users_context(request, max(0, offset), status or None, q or None)
    if is_htmx(request) and request.headers.get("hx-target") == "users-table":
        return render(request, "users/_users_table.html", context)
    collector = await call(request, "GET", "/admin/collector-status", params={"notifications": 0})
    return render(
        request,
        "users/users.html",
        {
            "title": "Users",
            **context,
            "default_timezone": parts(request).settings.default_timezone,
            "budget": collector["budget"],
        },
    )


@router.post("/users", response_class=HTMLResponse)
async def create_user(
    request: Request,
    _: SessionDep,
    display_name: Annotated[str, Form()],
    timezone: Annotated[str, Form()] = "",
) -> HTMLResponse:
    created = await call(
        request, "POST", "/admin/users", json={"display_name": display_name, "timezone": timezone or None}
    )
    context = await users_context(request, 0, None, None)
    response = render(request, "users/_users_table.html", context)
    response.headers["HX-Trigger"] = "users-changed"
    del created
    return response


@router.get("/users/{user_id}", response_class=HTMLResponse)
async def user_page(request: Request, user_id: uuid.UUID, _: SessionDep) -> HTMLResponse:
    user = await call(request, "GET", f"/admin/users/{user_id}")
    tokens = await call(request, "GET", "/admin/api-tokens", params={"user_id": str(user_id)})
    grants = await call(request, "GET", f"/admin/users/{user_id}/oauth-grants")
    return render(
        request,
        "users/user.html",
        {
            "title": user["display_name"] or "User",
            "user": user,
            "tokens": tokens,
            "new_token": None,
            "grants": grants,
            "signin_link": None,
            "signin_saved": None,
        },
    )


@router.post("/users/{user_id}/actions/{action}", response_class=HTMLResponse)
async def user_action(request: Request, user_id: uuid.UUID, action: str, _: SessionDep) -> HTMLResponse:
    if action not in USER_ACTIONS:
        return message(request, f"unknown action {action}", kind="error", status_code=404)
    result = await call(request, "POST", f"/admin/users/{user_id}/{action}")
    user = await call(request, "GET", f"/admin/users/{user_id}")
    return render(request, "users/_user_row.html", {"u": user, "flash": result["message"]})


@router.post("/users/{user_id}/timezone", response_class=HTMLResponse)
async def user_timezone(
    request: Request, user_id: uuid.UUID, _: SessionDep, timezone: Annotated[str, Form()]
) -> HTMLResponse:
    result = await call(request, "PUT", f"/admin/users/{user_id}/timezone", json={"timezone": timezone})
    return message(request, result["message"])


@router.post("/users/{user_id}/delete", response_model=None)
async def user_delete(request: Request, user_id: uuid.UUID, _: SessionDep) -> Response:
    await call(request, "DELETE", f"/admin/users/{user_id}")
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": "/users"})
    return RedirectResponse("/users", status_code=303)


@router.get("/connect", response_class=HTMLResponse)
async def connect(request: Request, _: SessionDep) -> HTMLResponse:
    settings = parts(request).settings
    return render(
        request,
        "users/connect.html",
        {
            "title": "Connect Spotify",
            "login_url": f"{settings.effective_public_base_url}/auth/login",
            "spotify_configured": settings.spotify_configured,
            "redirect_uri": settings.effective_redirect_uri,
            "basic": settings.effective_frontend_auth_mode is AuthMode.basic,
        },
    )
