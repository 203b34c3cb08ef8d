"""Imports: uploading an export and following its stages to the warehouse."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from serve.admin_ui.api_client import ApiError
from serve.admin_ui.figures import import_stage
from serve.admin_ui.guards import SessionDep
from serve.admin_ui.web import call, is_htmx, message, render

router = APIRouter()

IMPORT_STATUSES = ("pending", "running", "success", "error", "partial", "preview", "previewed", "discarded")


async def import_list(request: Request, offset: int = 0, status: str | None = None) -> dict[str, Any]:
    page = await call(request, "GET", "/admin/import-jobs", params={"limit": 25, "offset": offset, "status": status})
    return {"page": page, "status": status or "", "offset": offset}


@router.get("/imports", response_class=HTMLResponse)
async def imports_page(request: Request, _: SessionDep, offset: int = 0, status: str | None = None) -> HTMLResponse:
    context = await import_list(request, max(0, offset), status or None)
    if is_htmx(request) and request.headers.get("hx-target") == "imports-table":
        return render(request, "imports/_imports_table.html", context)
    users = await call(request, "GET", "/admin/users", params={"limit": 500})
    return render(
        request,
        "imports/imports.html",
        {"title": "Imports", **context, "users": users["items"], "statuses": IMPORT_STATUSES},
    )


@router.post("/imports", response_class=HTMLResponse)
async def upload(
    request: Request,
    _: SessionDep,
    user_id: Annotated[str, Form()],
    file: UploadFile,
    preview: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    if not user_id:
        return message(request, "Choose the user the export belongs to.", kind="error", status_code=422)
    if not file.filename:
        return message(
            request,
            "Choose an export file to upload (a ZIP, or Last.fm scrobbles as .csv/.json).",
            kind="error",
            status_code=422,
        )
    try:
        target_user = uuid.UUID(user_id)
    except ValueError:
        return message(request, "That user does not exist.", kind="error", status_code=422)
    job = await call(
        request,
        "POST",
        f"/admin/users/{target_user}/imports/zip",
        params={"preview": "true"} if preview else None,
        files={"file": (file.filename, file.file, file.content_type or "application/zip")},
        timeout_seconds=600.0,
    )
    job_id = None
    if isinstance(job, dict):
        nested = job.get("job") or job.get("import_job") or {}
        job_id = job.get("import_job_id") or job.get("id") or (nested.get("id") if isinstance(nested, dict) else None)
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
    return render(request, "imports/_import_progress.html", {"job": current})


@router.get("/imports/{import_job_id}/progress", response_class=HTMLResponse)
async def import_progress(request: Request, import_job_id: int, _: SessionDep) -> HTMLResponse:
    job = await call(request, "GET", f"/admin/import-jobs/{import_job_id}")
    response = render(request, "imports/_import_progress.html", {"job": job})
    if import_stage(job).finished:  # the list below shows the outcome too
        response.headers["HX-Trigger"] = "imports-changed"
    return response


@router.post("/imports/{import_job_id}/{choice}", response_class=HTMLResponse)
async def import_choice(request: Request, import_job_id: int, choice: str, _: SessionDep) -> HTMLResponse:
    """The answer to a preview: `confirm` (the collector imports the file) or `discard` (the file is deleted)."""
    if choice not in ("confirm", "discard"):
        return message(request, f"unknown choice {choice}: confirm or discard", kind="error", status_code=404)
    job = await call(request, "POST", f"/admin/import-jobs/{import_job_id}/{choice}")
    response = render(request, "imports/_import_progress.html", {"job": job})
    response.headers["HX-Trigger"] = "imports-changed"
    return response
