"""The admin UI: its own FastAPI app and process, server-rendered (Jinja2) with HTMX for partial updates.

It reads and changes nothing itself: every page calls the API over HTTP (API_BASE_URL) with the admin
credentials. It has its own login (a server-side session) and embeds the Streamlit analytics through
an authenticated reverse proxy (`proxy.py`). HTMX-aware like polar's backoffice: a request with
`HX-Request` gets a fragment, errors become a message in `#messages` (never a stack trace).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Form, Request, UploadFile, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection

from core.settings import AuthMode, Settings
from serve.admin_ui import session as sessions
from serve.admin_ui.api_client import ApiClient, ApiError
from serve.admin_ui.figures import IMPORT_STAGES, import_stage, job_figures
from serve.admin_ui.proxy import PROXY_PREFIX, StreamlitProxy, proxy_secret
from serve.client_address import address_key, install_proxy_headers
from serve.throttle import FailureThrottle

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
LOG_SERVICES = ("api", "collector", "frontend", "transform", "dashboards", "cli")
LOG_LEVELS = ("debug", "info", "warning", "error")
JOB_TYPES = ("import_zip", "initial_sync", "poll", "enrich", "transform", "purge_logs")
JOB_STATUSES = ("running", "success", "error", "partial", "interrupted", "abandoned")
IMPORT_STATUSES = ("pending", "running", "success", "error", "partial")
USER_ACTIONS = {
    "pause": "Paused",
    "resume": "Resumed",
    "initial-sync": "Initial sync requested",
    "resync": "Poll requested",
}


class NotLoggedIn(Exception):
    pass


class CsrfFailed(Exception):
    pass


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def require_session(request: Request) -> sessions.Session:
    """A live session; for state-changing methods also its CSRF token, from the `X-CSRF-Token` header (HTMX) or a
    `csrf_token` form field — never from the query string."""
    store: sessions.SessionStore = request.app.state.admin_sessions
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


# ---------------------------------------------------------------------------------------------------
# Template filters
# ---------------------------------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def fmt_time(value: Any) -> str:
    moment = _parse_time(value)
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_date(value: Any) -> str:
    moment = _parse_time(value)
    return "—" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d")


def fmt_bytes(value: Any) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def fmt_duration(value: Any) -> str:
    if value is None:
        return "—"
    seconds = float(value)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_int(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def percent(value: Any) -> int:
    if value is None:
        return 0
    number = float(value)
    return 0 if math.isnan(number) else max(0, min(100, round(number * 100)))


# ---------------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------------


def create_admin_app(
    settings: Settings,
    *,
    api_base_url: str | None = None,
    streamlit_url: str | None = None,
) -> FastAPI:
    """`api_base_url` defaults to API_BASE_URL; `streamlit_url` to http://127.0.0.1:DASHBOARDS_PORT."""
    store = sessions.SessionStore()
    throttle = FailureThrottle()
    api = ApiClient(settings, base_url=api_base_url)
    proxy = StreamlitProxy(streamlit_url or f"http://127.0.0.1:{settings.dashboards_port}", proxy_secret(settings))
    public_api_url = settings.effective_public_base_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await api.aclose()
            await proxy.aclose()

    app = FastAPI(title="spotify-mcp admin", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.api = api
    app.state.admin_sessions = store
    app.state.login_throttle = throttle
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters.update(
        time=fmt_time,
        date=fmt_date,
        bytes=fmt_bytes,
        duration=fmt_duration,
        int=fmt_int,
        percent=percent,
        figures=job_figures,
        import_stage=import_stage,
    )
    templates.env.globals["import_stages"] = IMPORT_STAGES
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # ----- helpers ---------------------------------------------------------------------------------

    def is_htmx(request: Request) -> bool:
        return request.headers.get("hx-request") == "true"

    def current_session(connection: HTTPConnection) -> sessions.Session | None:
        return store.get(connection.cookies.get(sessions.COOKIE_NAME))

    def render(
        request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
    ) -> HTMLResponse:
        found = current_session(request)
        values: dict[str, Any] = {
            "request": request,
            "csrf_token": found.csrf_token if found else "",
            "logged_in": found is not None,
            "path": request.url.path,
            "public_api_url": public_api_url,
        }
        values.update(context or {})
        response = templates.TemplateResponse(request, name, values, status_code=status_code)
        response.headers["Cache-Control"] = "no-store"
        return response

    def message(request: Request, text: str, *, kind: str = "ok", status_code: int = 200) -> HTMLResponse:
        response = render(request, "_message.html", {"kind": kind, "text": text}, status_code=status_code)
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
        return response

    async def call(request: Request, method: str, path: str, **kwargs: Any) -> Any:
        return await api.request(method, path, request_id=request.headers.get("x-request-id"), **kwargs)

    # ----- errors ---------------------------------------------------------------------------------

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

    # ----- health and login -------------------------------------------------------------------------

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        try:
            await api.request("GET", "/healthz", timeout_seconds=3.0)
            api_state = "ok"
        except ApiError:
            api_state = "unreachable"
        return JSONResponse({"status": "ok", "api": api_state})

    def safe_next(value: str | None) -> str:
        if not value or not value.startswith("/") or value.startswith("//") or urlsplit(value).netloc:
            return "/"
        return value

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
        return render(
            request,
            "login.html",
            {"mode": settings.effective_frontend_auth_mode.value, "next": safe_next(next), "error": None},
        )

    @app.post("/login", response_model=None)
    async def login(
        request: Request,
        token: Annotated[str | None, Form()] = None,
        username: Annotated[str | None, Form()] = None,
        password: Annotated[str | None, Form()] = None,
        next: Annotated[str | None, Form()] = None,
    ) -> Response:
        def refused(error: str, status_code: int) -> HTMLResponse:
            context = {"mode": settings.effective_frontend_auth_mode.value, "next": safe_next(next), "error": error}
            return render(request, "login.html", context, status_code=status_code)

        address = address_key(request)
        wait = throttle.wait_seconds(address)
        if wait:
            slowed = refused(f"Too many failed sign-ins from your address: wait {wait} seconds, then try again.", 429)
            slowed.headers["Retry-After"] = str(wait)
            return slowed
        if not sessions.check_login(settings, token=token, username=username, password=password):
            throttle.failed(address)
            logger.warning("admin UI login refused", extra={"ctx": {"client": address}})
            return refused("Those credentials are not right.", 401)
        throttle.succeeded(address)
        cookie, _ = store.create("admin")
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

    @app.post("/logout", response_model=None)
    async def logout(request: Request, _: SessionDep) -> Response:
        store.revoke(request.cookies.get(sessions.COOKIE_NAME))
        response: Response = (
            Response(status_code=200, headers={"HX-Redirect": "/login"})
            if is_htmx(request)
            else RedirectResponse("/login", status_code=303)
        )
        response.delete_cookie(sessions.COOKIE_NAME, path="/")
        return response

    # ----- dashboard ----------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request, _: SessionDep) -> HTMLResponse:
        users = await call(request, "GET", "/admin/users", params={"limit": 1})
        sync = await call(request, "GET", "/admin/sync-status", params={"limit": 1})
        runs = await call(request, "GET", "/admin/job-runs", params={"limit": 10})
        imports = await call(request, "GET", "/admin/import-jobs", params={"limit": 5})
        problems = await call(request, "GET", "/admin/logs", params={"level": "warning", "limit": 8})
        summary = await call(request, "GET", "/admin/job-runs/summary", params={"days": 1})
        collector = await call(request, "GET", "/admin/collector-status")
        return render(
            request,
            "dashboard.html",
            {
                "title": "Dashboard",
                "c": collector,
                "user_total": users["total"],
                "sync": sync,
                "runs": runs["items"],
                "imports": imports["items"],
                "problems": problems["items"],
                "summary": summary,
            },
        )

    @app.get("/partials/health", response_class=HTMLResponse)
    async def health_partial(request: Request, _: SessionDep, probe: bool = False) -> HTMLResponse:
        diagnostics = await call(request, "GET", "/admin/diagnostics", params={"probe": str(probe).lower()})
        return render(request, "_health.html", {"d": diagnostics})

    # ----- users --------------------------------------------------------------------------------------

    async def users_context(request: Request, offset: int, status: str | None, q: str | None) -> dict[str, Any]:
        page = await call(
            request, "GET", "/admin/users", params={"limit": 25, "offset": offset, "status": status, "q": q}
        )
        return {"page": page, "status": status or "", "q": q or "", "offset": offset}

    @app.get("/users", response_class=HTMLResponse)
    async def users_page(
        request: Request, _: SessionDep, offset: int = 0, status: str | None = None, q: str | None = None
    ) -> HTMLResponse:
        context = await users_context(request, max(0, offset), status or None, q or None)
        if is_htmx(request) and request.headers.get("hx-target") == "users-table":
            return render(request, "_users_table.html", context)
        collector = await call(request, "GET", "/admin/collector-status", params={"notifications": 0})
        return render(
            request,
            "users.html",
            {
                "title": "Users",
                **context,
                "default_timezone": settings.default_timezone,
                "budget": collector["budget"],
            },
        )

    @app.post("/users", response_class=HTMLResponse)
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
        response = render(request, "_users_table.html", context)
        response.headers["HX-Trigger"] = "users-changed"
        del created
        return response

    @app.get("/users/{user_id}", response_class=HTMLResponse)
    async def user_page(request: Request, user_id: uuid.UUID, _: SessionDep) -> HTMLResponse:
        user = await call(request, "GET", f"/admin/users/{user_id}")
        tokens = await call(request, "GET", "/admin/api-tokens", params={"user_id": str(user_id)})
        grants = await call(request, "GET", f"/admin/users/{user_id}/oauth-grants")
        return render(
            request,
            "user.html",
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

    async def tokens_fragment(
        request: Request, user_id: uuid.UUID, *, changed: dict[str, Any] | None = None, new_token: Any = None
    ) -> HTMLResponse:
        tokens: list[dict[str, Any]] = await call(request, "GET", "/admin/api-tokens", params={"user_id": str(user_id)})
        if changed is not None:
            # The API's answer wins over a list read a moment after the change.
            others = [token for token in tokens if token.get("id") != changed.get("id")]
            tokens = [{key: value for key, value in changed.items() if key != "token"}, *others]
            tokens.sort(key=lambda token: str(token.get("created_at")), reverse=True)
        return render(request, "_tokens.html", {"user": {"id": str(user_id)}, "tokens": tokens, "new_token": new_token})

    @app.post("/users/{user_id}/tokens", response_class=HTMLResponse)
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

    @app.post("/users/{user_id}/tokens/{token_id}/revoke", response_class=HTMLResponse)
    async def revoke_token(request: Request, user_id: uuid.UUID, token_id: uuid.UUID, _: SessionDep) -> HTMLResponse:
        revoked = await call(request, "DELETE", f"/admin/api-tokens/{token_id}")
        return await tokens_fragment(request, user_id, changed=revoked)

    # ----- OAuth: connected assistants and local sign-in ----------------------------------------------

    async def grants_fragment(request: Request, user_id: uuid.UUID) -> HTMLResponse:
        grants = await call(request, "GET", f"/admin/users/{user_id}/oauth-grants")
        return render(request, "_oauth_grants.html", {"user": {"id": str(user_id)}, "grants": grants})

    @app.post("/users/{user_id}/oauth-grants/{grant_id}/disconnect", response_class=HTMLResponse)
    async def disconnect_grant(
        request: Request, user_id: uuid.UUID, grant_id: uuid.UUID, _: SessionDep
    ) -> HTMLResponse:
        await call(request, "DELETE", f"/admin/users/{user_id}/oauth-grants/{grant_id}")
        return await grants_fragment(request, user_id)

    async def clients_page(request: Request) -> dict[str, Any]:
        return {"page": await call(request, "GET", "/admin/oauth/clients", params={"limit": 100})}

    @app.get("/assistants", response_class=HTMLResponse)
    async def assistants(request: Request, _: SessionDep) -> HTMLResponse:
        return render(request, "assistants.html", {"title": "Assistants", **await clients_page(request)})

    @app.post("/assistants/delete", response_class=HTMLResponse)
    async def delete_assistant(request: Request, client_id: Annotated[str, Form()], _: SessionDep) -> HTMLResponse:
        await call(request, "DELETE", f"/admin/oauth/clients/{quote(client_id, safe='')}")
        return render(request, "_oauth_clients.html", await clients_page(request))

    def signin_fragment(
        request: Request, user_id: uuid.UUID, *, saved: str | None = None, link: Any = None
    ) -> HTMLResponse:
        return render(
            request,
            "_signin.html",
            {"user": {"id": str(user_id)}, "signin_saved": saved, "signin_link": link},
        )

    @app.post("/users/{user_id}/signin/password", response_class=HTMLResponse)
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

    @app.post("/users/{user_id}/signin/link", response_class=HTMLResponse)
    async def issue_signin_link(
        request: Request, user_id: uuid.UUID, _: SessionDep, expires_in_hours: Annotated[str, Form()] = "24"
    ) -> HTMLResponse:
        hours = expires_in_hours.strip() or "24"
        if not hours.isdigit():
            return message(request, "Expiry must be a whole number of hours.", kind="error", status_code=422)
        link = await call(request, "POST", f"/admin/users/{user_id}/signin/link", json={"expires_in_hours": int(hours)})
        return signin_fragment(request, user_id, link=link)

    @app.post("/users/{user_id}/actions/{action}", response_class=HTMLResponse)
    async def user_action(request: Request, user_id: uuid.UUID, action: str, _: SessionDep) -> HTMLResponse:
        if action not in USER_ACTIONS:
            return message(request, f"unknown action {action}", kind="error", status_code=404)
        result = await call(request, "POST", f"/admin/users/{user_id}/{action}")
        user = await call(request, "GET", f"/admin/users/{user_id}")
        return render(request, "_user_row.html", {"u": user, "flash": result["message"]})

    @app.post("/users/{user_id}/timezone", response_class=HTMLResponse)
    async def user_timezone(
        request: Request, user_id: uuid.UUID, _: SessionDep, timezone: Annotated[str, Form()]
    ) -> HTMLResponse:
        result = await call(request, "PUT", f"/admin/users/{user_id}/timezone", json={"timezone": timezone})
        return message(request, result["message"])

    @app.post("/users/{user_id}/delete", response_model=None)
    async def user_delete(request: Request, user_id: uuid.UUID, _: SessionDep) -> Response:
        await call(request, "DELETE", f"/admin/users/{user_id}")
        if is_htmx(request):
            return Response(status_code=200, headers={"HX-Redirect": "/users"})
        return RedirectResponse("/users", status_code=303)

    # ----- imports ------------------------------------------------------------------------------------

    async def import_list(request: Request, offset: int = 0, status: str | None = None) -> dict[str, Any]:
        page = await call(
            request, "GET", "/admin/import-jobs", params={"limit": 25, "offset": offset, "status": status}
        )
        return {"page": page, "status": status or "", "offset": offset}

    @app.get("/imports", response_class=HTMLResponse)
    async def imports_page(request: Request, _: SessionDep, offset: int = 0, status: str | None = None) -> HTMLResponse:
        context = await import_list(request, max(0, offset), status or None)
        if is_htmx(request) and request.headers.get("hx-target") == "imports-table":
            return render(request, "_imports_table.html", context)
        users = await call(request, "GET", "/admin/users", params={"limit": 500})
        return render(
            request,
            "imports.html",
            {"title": "Imports", **context, "users": users["items"], "statuses": IMPORT_STATUSES},
        )

    @app.post("/imports", response_class=HTMLResponse)
    async def upload(
        request: Request, _: SessionDep, user_id: Annotated[str, Form()], file: UploadFile
    ) -> HTMLResponse:
        if not user_id:
            return message(request, "Choose the user the export belongs to.", kind="error", status_code=422)
        if not file.filename:
            return message(request, "Choose a ZIP file to upload.", kind="error", status_code=422)
        try:
            target_user = uuid.UUID(user_id)
        except ValueError:
            return message(request, "That user does not exist.", kind="error", status_code=422)
        job = await call(
            request,
            "POST",
            f"/admin/users/{target_user}/imports/zip",
            files={"file": (file.filename, file.file, file.content_type or "application/zip")},
            timeout_seconds=600.0,
        )
        job_id = None
        if isinstance(job, dict):
            nested = job.get("job") or job.get("import_job") or {}
            job_id = (
                job.get("import_job_id") or job.get("id") or (nested.get("id") if isinstance(nested, dict) else None)
            )
        if job_id is None:  # the newest job of this user is the one just created
            latest = await call(request, "GET", "/admin/import-jobs", params={"user_id": str(target_user), "limit": 1})
            if not latest["items"]:
                return message(request, "Uploaded, but no import job was created.", kind="error", status_code=502)
            job_id = latest["items"][0]["id"]
        current = None
        for _attempt in range(40):  # the upload's own transaction may commit a moment after its answer
            try:
                current = await call(request, "GET", f"/admin/import-jobs/{job_id}")
                break
            except ApiError as error:
                if error.status_code != 404:
                    raise
                await asyncio.sleep(0.05)
        if current is None:
            return message(request, f"Uploaded as import #{job_id}; see the list below.", kind="ok")
        return render(request, "_import_progress.html", {"job": current})

    @app.get("/imports/{import_job_id}/progress", response_class=HTMLResponse)
    async def import_progress(request: Request, import_job_id: int, _: SessionDep) -> HTMLResponse:
        job = await call(request, "GET", f"/admin/import-jobs/{import_job_id}")
        response = render(request, "_import_progress.html", {"job": job})
        if import_stage(job).finished:  # the list below shows the outcome too
            response.headers["HX-Trigger"] = "imports-changed"
        return response

    # ----- jobs ---------------------------------------------------------------------------------------

    @app.get("/jobs", response_class=HTMLResponse)
    async def jobs_page(
        request: Request,
        _: SessionDep,
        offset: int = 0,
        job_type: str | None = None,
        status: str | None = None,
        user_id: str | None = None,
    ) -> HTMLResponse:
        page = await call(
            request,
            "GET",
            "/admin/job-runs",
            params={"limit": 25, "offset": max(0, offset), "job_type": job_type, "status": status, "user_id": user_id},
        )
        context = {
            "page": page,
            "job_type": job_type or "",
            "status": status or "",
            "user_id": user_id or "",
            "offset": max(0, offset),
        }
        if is_htmx(request) and request.headers.get("hx-target") == "jobs-table":
            return render(request, "_jobs_table.html", context)
        summary = await call(request, "GET", "/admin/job-runs/summary", params={"days": 7})
        return render(
            request,
            "jobs.html",
            {"title": "Jobs", **context, "summary": summary, "job_types": JOB_TYPES, "statuses": JOB_STATUSES},
        )

    @app.get("/jobs/{job_run_id}", response_class=HTMLResponse)
    async def job_page(request: Request, job_run_id: int, _: SessionDep) -> HTMLResponse:
        job = await call(request, "GET", f"/admin/job-runs/{job_run_id}")
        return render(request, "job.html", {"title": f"Job run {job_run_id}", "job": job})

    @app.post("/transform", response_class=HTMLResponse)
    async def transform(request: Request, _: SessionDep) -> HTMLResponse:
        result = await call(request, "POST", "/admin/transform")
        return message(request, result["message"])

    # ----- logs ---------------------------------------------------------------------------------------

    def log_params(request: Request) -> dict[str, Any]:
        query = request.query_params
        params: dict[str, Any] = {name: query.get(name) or None for name in ("service", "level", "q", "user_id")}
        for name in ("since", "until"):
            value = query.get(name)
            if value:
                # <input type=datetime-local> sends naive local-looking times: read them as UTC.
                moment = _parse_time(value)
                params[name] = (
                    moment if moment and moment.tzinfo else (moment or datetime.now(UTC)).replace(tzinfo=UTC)
                ).isoformat()
        return params

    @app.get("/logs", response_class=HTMLResponse)
    async def logs_page(request: Request, _: SessionDep, before_id: int | None = None) -> HTMLResponse:
        params = log_params(request)
        page = await call(request, "GET", "/admin/logs", params={**params, "limit": 100, "before_id": before_id})
        context = {
            "page": page,
            "filters": {
                name: request.query_params.get(name, "")
                for name in ("service", "level", "q", "since", "until", "user_id")
            },
            "services": LOG_SERVICES,
            "levels": LOG_LEVELS,
        }
        if is_htmx(request) and request.headers.get("hx-target") == "log-results":
            return render(request, "_logs_results.html", context)
        return render(request, "logs.html", {"title": "Logs", **context})

    @app.get("/logs/tail", response_class=HTMLResponse)
    async def logs_tail(request: Request, _: SessionDep, after_id: int = 0) -> HTMLResponse:
        params = log_params(request)
        page = await call(request, "GET", "/admin/logs", params={**params, "limit": 200, "after_id": after_id})
        return render(request, "_logs_tail.html", {"page": page, "after_id": page["newest_id"] or after_id})

    # ----- analytics and connect ----------------------------------------------------------------------

    @app.get("/analytics", response_class=HTMLResponse)
    async def analytics(request: Request, _: SessionDep) -> HTMLResponse:
        return render(request, "analytics.html", {"title": "Analytics", "embed": PROXY_PREFIX + "/"})

    @app.api_route(PROXY_PREFIX, methods=["GET"], include_in_schema=False)
    async def analytics_root(request: Request) -> Response:
        if current_session(request) is None:
            return Response("login required", status_code=401, media_type="text/plain")
        return RedirectResponse(PROXY_PREFIX + "/", status_code=307)

    @app.api_route(PROXY_PREFIX + "/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"])
    async def analytics_proxy(request: Request, path: str) -> Response:
        del path
        if current_session(request) is None:
            # Never forwarded: Streamlit is reachable only with an admin session.
            return Response("login required", status_code=401, media_type="text/plain")
        return await proxy.http(request)

    @app.websocket(PROXY_PREFIX + "/{path:path}")
    async def analytics_socket(websocket: WebSocket, path: str) -> None:
        del path
        if current_session(websocket) is None or not same_origin(websocket):
            await websocket.close(code=1008)
            return
        await proxy.websocket(websocket)

    @app.get("/connect", response_class=HTMLResponse)
    async def connect(request: Request, _: SessionDep) -> HTMLResponse:
        return render(
            request,
            "connect.html",
            {
                "title": "Connect Spotify",
                "login_url": f"{public_api_url}/auth/login",
                "spotify_configured": settings.spotify_configured,
                "redirect_uri": settings.effective_redirect_uri,
                "basic": settings.effective_frontend_auth_mode is AuthMode.basic,
            },
        )

    install_proxy_headers(app, settings)  # last: runs first, before anything reads the client or scheme
    return app
