"""What every page module of the admin UI shares: the app's parts, rendering, HTMX messages and the API call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.requests import HTTPConnection

from core.settings import Settings
from serve.admin_ui import session as sessions
from serve.admin_ui.api_client import ApiClient
from serve.admin_ui.figures import IMPORT_STAGES, import_stage, job_figures
from serve.admin_ui.formatting import fmt_bytes, fmt_date, fmt_duration, fmt_int, fmt_time, percent
from serve.admin_ui.proxy import StreamlitProxy
from serve.throttle import FailureThrottle

HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class AdminParts:
    """What one admin UI app holds (on `app.state.admin`), for the route modules to reach through the request."""

    settings: Settings
    api: ApiClient
    sessions: sessions.SessionStore
    login_throttle: FailureThrottle
    proxy: StreamlitProxy
    templates: Jinja2Templates


def parts(connection: HTTPConnection) -> AdminParts:
    found: AdminParts = connection.app.state.admin
    return found


def build_templates() -> Jinja2Templates:
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
    return templates


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def current_session(connection: HTTPConnection) -> sessions.Session | None:
    return parts(connection).sessions.get(connection.cookies.get(sessions.COOKIE_NAME))


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    found = current_session(request)
    values: dict[str, Any] = {
        "request": request,
        "csrf_token": found.csrf_token if found else "",
        "logged_in": found is not None,
        "path": request.url.path,
        "public_api_url": parts(request).settings.effective_public_base_url,
    }
    values.update(context or {})
    response = parts(request).templates.TemplateResponse(request, name, values, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def message(request: Request, text: str, *, kind: str = "ok", status_code: int = 200) -> HTMLResponse:
    """A message shown in `#messages`, whatever the request's HTMX target."""
    response = render(request, "_message.html", {"kind": kind, "text": text}, status_code=status_code)
    response.headers["HX-Retarget"] = "#messages"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


async def call(request: Request, method: str, path: str, **kwargs: Any) -> Any:
    """The API, with the admin credentials and this request's id."""
    return await parts(request).api.request(method, path, request_id=request.headers.get("x-request-id"), **kwargs)
