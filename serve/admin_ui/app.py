"""The admin UI: its own FastAPI app and process, server-rendered (Jinja2) with HTMX for partial updates.

It reads and changes nothing itself: every page calls the API over HTTP (API_BASE_URL) with the admin
credentials. It has its own login (a server-side session) and embeds the Streamlit analytics through
an authenticated reverse proxy (`proxy.py`). HTMX-aware like polar's backoffice: a request with
`HX-Request` gets a fragment, errors become a message in `#messages` (never a stack trace).

This module only assembles the app: the pages live in `routes/` (one module per domain), what they share in
`web.py` (rendering, the API call), the session and CSRF checks in `guards.py`, the template filters in
`formatting.py`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.settings import Settings
from serve.admin_ui import session as sessions
from serve.admin_ui.api_client import ApiClient, ApiError
from serve.admin_ui.guards import SAFE_METHODS, CsrfFailed, NotLoggedIn, same_origin
from serve.admin_ui.proxy import PROXY_PREFIX, StreamlitProxy, proxy_secret
from serve.admin_ui.routes import analytics, assistants, dashboard, imports, jobs, login, logs, users
from serve.admin_ui.web import HERE, AdminParts, build_templates, is_htmx, message, render
from serve.client_address import install_proxy_headers
from serve.throttle import FailureThrottle

logger = logging.getLogger(__name__)


def create_admin_app(
    settings: Settings,
    *,
    api_base_url: str | None = None,
    streamlit_url: str | None = None,
) -> FastAPI:
    """`api_base_url` defaults to API_BASE_URL; `streamlit_url` to http://127.0.0.1:DASHBOARDS_PORT."""
    admin = AdminParts(
        settings=settings,
        api=ApiClient(settings, base_url=api_base_url),
        sessions=sessions.SessionStore(),
        login_throttle=FailureThrottle(),
        proxy=StreamlitProxy(streamlit_url or f"http://127.0.0.1:{settings.dashboards_port}", proxy_secret(settings)),
        templates=build_templates(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await admin.api.aclose()
            await admin.proxy.aclose()

    app = FastAPI(title="spotify-mcp admin", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.admin = admin
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _install_error_pages(app)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method not in SAFE_METHODS and not same_origin(request):
            # A form or script on another site posting here with the admin's cookie (CSRF), login included.
            logger.warning("admin UI refused a cross-origin %s %s", request.method, request.url.path)
            return Response("cross-origin request refused", status_code=403, media_type="text/plain")
        response = await call_next(request)
        if not request.url.path.startswith(PROXY_PREFIX + "/"):
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    for pages in (dashboard, login, users, assistants, imports, jobs, logs, analytics):
        app.include_router(pages.router)
    install_proxy_headers(app, settings)  # last: runs first, before anything reads the client or scheme
    return app


def _install_error_pages(app: FastAPI) -> None:
    """Errors as a page, or as a message in `#messages` for HTMX; never a stack trace."""

    @app.exception_handler(NotLoggedIn)
    async def _not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        del exc
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        del exc
        return message(request, "The form expired; reload the page and try again.", kind="error", status_code=403)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        status = exc.status_code if 400 <= exc.status_code < 600 else 502
        if is_htmx(request):
            return message(request, exc.message, kind="error", status_code=status)
        return render(request, "error.html", {"title": "Something went wrong", "text": exc.message}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        text = "Page not found." if exc.status_code == 404 else str(exc.detail)
        if is_htmx(request):
            return message(request, text, kind="error", status_code=exc.status_code)
        return render(request, "error.html", {"title": "Not here", "text": text}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("admin UI error on %s %s", request.method, request.url.path, exc_info=exc)
        text = "Unexpected error in the admin UI; details are in its logs."
        if is_htmx(request):
            return message(request, text, kind="error", status_code=500)
        return render(request, "error.html", {"title": "Unexpected error", "text": text}, status_code=500)
