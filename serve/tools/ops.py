"""Handlers of the `ops.*` tools: the state of collection for one user, from the operational tables.

A user token sees only its own user (issue 16.5): its own jobs in full, and of the jobs that run for the whole
installation (the transform) only that they ran, when, and whether they succeeded — their numbers (rows built for
everyone, cluster counts) and error text describe every user and are answered to the admin token only.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from serve.collector_status import spotify_budget
from serve.tools import repository as repo
from serve.tools.errors import UnknownUser
from serve.tools.models import (
    ImportJobs,
    ImportJobSummary,
    JobRuns,
    JobRunSummary,
    OpsListArgs,
    RequestBudget,
    SyncStatus,
    UserArgs,
)
from serve.tools.registry import Principal, ToolContext

INSTANCE_JOB_FAILED = "failed; the details concern the whole installation and are shown to the admin only"
INSTANCE_JOB_PARTIAL = "built, without some other users whose data fails the build (the admin sees who and why)"


async def sync_status(context: ToolContext, args: UserArgs, user_id: UUID) -> SyncStatus:
    del args
    row = await repo.sync_status(context.session, user_id)
    if row is None:
        raise UnknownUser(f"no user with id {user_id}", details={"user_id": str(user_id)})
    budget = await spotify_budget(await context.session.connection(), context.settings)
    # The counts are the whole installation's: answered to the admin token only (issue 16.5).
    admin = context.principal.kind == "admin"
    return SyncStatus.model_validate(
        row
        | {
            "budget": RequestBudget(
                per_day=budget.per_day if admin else None,
                used=budget.used_24h if admin else None,
                remaining=budget.remaining if admin else None,
                resets_at=budget.resets_at if admin else None,
                blocked_until=budget.blocked_until,
                blocked_reason=budget.blocked_reason,
            )
        }
    )


def _job_run_for(principal: Principal, row: dict[str, Any], user_id: UUID) -> JobRunSummary:
    if row.pop("instance_wide") and principal.kind != "admin":
        # A transform that left this user out (transform.isolation) says why to them, and nothing of the others.
        own = [item for item in (row["stats"] or {}).get("quarantine") or [] if item.get("user_id") == str(user_id)]
        row["stats"] = {}
        row["error_message"] = INSTANCE_JOB_FAILED if row["error_message"] is not None else None
        if row["status"] == "partial":
            row["error_message"] = INSTANCE_JOB_PARTIAL
        if own:
            row["error_message"] = (
                f"your listening history was left out of this build because it fails {own[0].get('node')}: "
                f"{own[0].get('reason')}; it is built again once it changes (or on a full refresh)"
            )
    return JobRunSummary.model_validate(row)


async def latest_job_runs(context: ToolContext, args: OpsListArgs, user_id: UUID) -> JobRuns:
    rows = await repo.job_runs(context.session, user_id, args.limit)
    return JobRuns(user_id=user_id, job_runs=[_job_run_for(context.principal, row, user_id) for row in rows])


async def latest_import_jobs(context: ToolContext, args: OpsListArgs, user_id: UUID) -> ImportJobs:
    rows = await repo.import_jobs(context.session, user_id, args.limit)
    return ImportJobs(user_id=user_id, import_jobs=[ImportJobSummary.model_validate(row) for row in rows])
