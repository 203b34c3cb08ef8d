"""The dashboard: the health of the install at a glance (and the UI's own health probe)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from serve.admin_ui.api_client import ApiError
from serve.admin_ui.guards import SessionDep
from serve.admin_ui.web import call, parts, render

router = APIRouter()


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    try:
        await parts(request).api.request("GET", "/healthz", timeout_seconds=3.0)
        api_state = "ok"
    except ApiError:
        api_state = "unreachable"
    return JSONResponse({"status": "ok", "api": api_state})


@router.get("/", response_class=HTMLResponse)
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
        "dashboard/dashboard.html",
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


@router.get("/partials/health", response_class=HTMLResponse)
async def health_partial(request: Request, _: SessionDep, probe: bool = False) -> HTMLResponse:
    diagnostics = await call(request, "GET", "/admin/diagnostics", params={"probe": str(probe).lower()})
    return render(request, "dashboard/_health.html", {"d": diagnostics})
