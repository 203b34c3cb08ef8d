"""How assistants reach a user's data: API tokens, OAuth grants and registered clients, local sign-in."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from serve.admin_ui.guards import SessionDep
from serve.admin_ui.web import call, message, render

router = APIRouter()


async def tokens_fragment(
    request: Request, user_id: uuid.UUID, *, changed: dict[str, Any] | None = None, new_token: Any = None
) -> HTMLResponse:
    tokens: list[dict[str, Any]] = await call(request, "GET", "/admin/api-tokens", params={"user_id": str(user_id)})
    if changed is not None:
        # The API's answer wins over a list read a moment after the change.
        others = [token for token in tokens if token.get("id") != changed.get("id")]
        tokens = [{key: value for key, value in changed.items() if key != "token"}, *others]
        tokens.sort(key=lambda token: str(token.get("created_at")), reverse=True)
    return render(
        request, "assistants/_tokens.html", {"user": {"id": str(user_id)}, "tokens": tokens, "new_token": new_token}
    )


@router.post("/users/{user_id}/tokens", response_class=HTMLResponse)
async def create_token(
    request: Request,
    user_id: uuid.UUID,
    _: SessionDep,
    name: Annotated[str, Form()] = "assistant",
    expires_in_days: Annotated[str, Form()] = "",
) -> HTMLResponse:
    body: dict[str, Any] = {"name": name or "assistant"}
    if expires_in_days.strip():
        if not expires_in_days.strip().isdigit():
            return message(request, "Expiry must be a whole number of days.", kind="error", status_code=422)
        body["expires_in_days"] = int(expires_in_days)
    created = await call(request, "POST", f"/admin/users/{user_id}/api-tokens", json=body)
    return await tokens_fragment(request, user_id, changed=created, new_token=created)


@router.post("/users/{user_id}/tokens/{token_id}/revoke", response_class=HTMLResponse)
async def revoke_token(request: Request, user_id: uuid.UUID, token_id: uuid.UUID, _: SessionDep) -> HTMLResponse:
    revoked = await call(request, "DELETE", f"/admin/api-tokens/{token_id}")
    return await tokens_fragment(request, user_id, changed=revoked)


async def grants_fragment(request: Request, user_id: uuid.UUID) -> HTMLResponse:
    grants = await call(request, "GET", f"/admin/users/{user_id}/oauth-grants")
    return render(request, "assistants/_oauth_grants.html", {"user": {"id": str(user_id)}, "grants": grants})


@router.post("/users/{user_id}/oauth-grants/{grant_id}/disconnect", response_class=HTMLResponse)
async def disconnect_grant(request: Request, user_id: uuid.UUID, grant_id: uuid.UUID, _: SessionDep) -> HTMLResponse:
    await call(request, "DELETE", f"/admin/users/{user_id}/oauth-grants/{grant_id}")
    return await grants_fragment(request, user_id)


async def clients_page(request: Request) -> dict[str, Any]:
    return {"page": await call(request, "GET", "/admin/oauth/clients", params={"limit": 100})}


@router.get("/assistants", response_class=HTMLResponse)
async def assistants(request: Request, _: SessionDep) -> HTMLResponse:
    return render(request, "assistants/assistants.html", {"title": "Assistants", **await clients_page(request)})


@router.post("/assistants/delete", response_class=HTMLResponse)
async def delete_assistant(request: Request, client_id: Annotated[str, Form()], _: SessionDep) -> HTMLResponse:
    await call(request, "DELETE", f"/admin/oauth/clients/{quote(client_id, safe='')}")
    return render(request, "assistants/_oauth_clients.html", await clients_page(request))


def signin_fragment(
    request: Request, user_id: uuid.UUID, *, saved: str | None = None, link: Any = None
) -> HTMLResponse:
    return render(
        request,
        "assistants/_signin.html",
        {"user": {"id": str(user_id)}, "signin_saved": saved, "signin_link": link},
    )


@router.post("/users/{user_id}/signin/password", response_class=HTMLResponse)
async def set_signin_password(
    request: Request,
    user_id: uuid.UUID,
    _: SessionDep,
    login_name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> HTMLResponse:
    name = login_name.strip()
    if not name or not password:
        return message(request, "Enter both a sign-in name and a password.", kind="error", status_code=422)
    await call(
        request, "PUT", f"/admin/users/{user_id}/signin/password", json={"login_name": name, "password": password}
    )
    return signin_fragment(request, user_id, saved=name)


@router.post("/users/{user_id}/signin/link", response_class=HTMLResponse)
async def issue_signin_link(
    request: Request, user_id: uuid.UUID, _: SessionDep, expires_in_hours: Annotated[str, Form()] = "24"
) -> HTMLResponse:
    hours = expires_in_hours.strip() or "24"
    if not hours.isdigit():
        return message(request, "Expiry must be a whole number of hours.", kind="error", status_code=422)
    link = await call(request, "POST", f"/admin/users/{user_id}/signin/link", json={"expires_in_hours": int(hours)})
    return signin_fragment(request, user_id, link=link)
