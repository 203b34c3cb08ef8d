"""Job runs: the list with its weekly summary, one run's stats, and starting a transform."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from serve.admin_ui.guards import SessionDep
from serve.admin_ui.web import call, is_htmx, message, render

router = APIRouter()

JOB_TYPES = ("import_zip", "initial_sync", "poll", "enrich", "transform", "purge_logs")
JOB_STATUSES = ("running", "success", "error", "partial", "interrupted", "abandoned")


@router.get("/jobs", response_class=HTMLResponse)
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
        return render(request, "jobs/_jobs_table.html", context)
    summary = await call(request, "GET", "/admin/job-runs/summary", params={"days": 7})
    return render(
        request,
        "jobs/jobs.html",
        {"title": "Jobs", **context, "summary": summary, "job_types": JOB_TYPES, "statuses": JOB_STATUSES},
    )


@router.get("/jobs/{job_run_id}", response_class=HTMLResponse)
async def job_page(request: Request, job_run_id: int, _: SessionDep) -> HTMLResponse:
    job = await call(request, "GET", f"/admin/job-runs/{job_run_id}")
    return render(request, "jobs/job.html", {"title": f"Job run {job_run_id}", "job": job})


@router.post("/transform", response_class=HTMLResponse)
async def transform(request: Request, _: SessionDep) -> HTMLResponse:
    result = await call(request, "POST", "/admin/transform")
    return message(request, result["message"])
