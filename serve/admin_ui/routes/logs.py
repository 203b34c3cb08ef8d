"""Logs: search with filters, and the live tail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from serve.admin_ui.formatting import parse_time
from serve.admin_ui.guards import SessionDep
from serve.admin_ui.web import call, is_htmx, render

router = APIRouter()

LOG_SERVICES = ("api", "collector", "frontend", "transform", "dashboards", "cli")
LOG_LEVELS = ("debug", "info", "warning", "error")


def log_params(request: Request) -> dict[str, Any]:
    query = request.query_params
    params: dict[str, Any] = {name: query.get(name) or None for name in ("service", "level", "q", "user_id")}
    for name in ("since", "until"):
        value = query.get(name)
        if value:
            # <input type=datetime-local> sends naive local-looking times: read them as UTC.
            moment = parse_time(value)
            params[name] = (
                moment if moment and moment.tzinfo else (moment or datetime.now(UTC)).replace(tzinfo=UTC)
            ).isoformat()
    return params


@router.get("/logs", response_class=HTMLResponse)
async def logs_page(request: Request, _: SessionDep, before_id: int | None = None) -> HTMLResponse:
    params = log_params(request)
    page = await call(request, "GET", "/admin/logs", params={**params, "limit": 100, "before_id": before_id})
    context = {
        "page": page,
        "filters": {
            name: request.query_params.get(name, "") for name in ("service", "level", "q", "since", "until", "user_id")
        },
        "services": LOG_SERVICES,
        "levels": LOG_LEVELS,
    }
    if is_htmx(request) and request.headers.get("hx-target") == "log-results":
        return render(request, "logs/_logs_results.html", context)
    return render(request, "logs/logs.html", {"title": "Logs", **context})


@router.get("/logs/tail", response_class=HTMLResponse)
async def logs_tail(request: Request, _: SessionDep, after_id: int = 0) -> HTMLResponse:
    params = log_params(request)
    page = await call(request, "GET", "/admin/logs", params={**params, "limit": 200, "after_id": after_id})
    return render(request, "logs/_logs_tail.html", {"page": page, "after_id": page["newest_id"] or after_id})
