"""Signing in and out of the admin UI (throttled per client address)."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serve.admin_ui import session as sessions
from serve.admin_ui.guards import SessionDep
from serve.admin_ui.web import is_htmx, parts, render
from serve.client_address import address_key

logger = logging.getLogger(__name__)

router = APIRouter()


def safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or urlsplit(value).netloc:
        return "/"
    return value


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(
        request,
        "login/login.html",
        {"mode": parts(request).settings.effective_frontend_auth_mode.value, "next": safe_next(next), "error": None},
    )


@router.post("/login", response_model=None)
async def login(
    request: Request,
    token: Annotated[str | None, Form()] = None,
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    admin = parts(request)

    def refused(error: str, status_code: int) -> HTMLResponse:
        context = {"mode": admin.settings.effective_frontend_auth_mode.value, "next": safe_next(next), "error": error}
        return render(request, "login/login.html", context, status_code=status_code)

    address = address_key(request)
    wait = admin.login_throttle.wait_seconds(address)
    if wait:
        slowed = refused(f"Too many failed sign-ins from your address: wait {wait} seconds, then try again.", 429)
        slowed.headers["Retry-After"] = str(wait)
        return slowed
    if not sessions.check_login(admin.settings, token=token, username=username, password=password):
        admin.login_throttle.failed(address)
        logger.warning("admin UI login refused", extra={"ctx": {"client": address}})
        return refused("Those credentials are not right.", 401)
    admin.login_throttle.succeeded(address)
    cookie, _ = admin.sessions.create("admin")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        sessions.COOKIE_NAME,
        cookie,
        max_age=sessions.SESSION_LIFETIME_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request, _: SessionDep) -> Response:
    parts(request).sessions.revoke(request.cookies.get(sessions.COOKIE_NAME))
    response: Response = (
        Response(status_code=200, headers={"HX-Redirect": "/login"})
        if is_htmx(request)
        else RedirectResponse("/login", status_code=303)
    )
    response.delete_cookie(sessions.COOKIE_NAME, path="/")
    return response
