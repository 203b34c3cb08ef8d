"""Handlers of the `ops.*` tools: the state of collection for one user, from the operational tables."""

from __future__ import annotations

from uuid import UUID

from serve.tools import repository as repo
from serve.tools.errors import UnknownUser
from serve.tools.models import (
    ImportJobs,
    ImportJobSummary,
    JobRuns,
    JobRunSummary,
    OpsListArgs,
    SyncStatus,
    UserArgs,
)
from serve.tools.registry import ToolContext


async def sync_status(context: ToolContext, args: UserArgs, user_id: UUID) -> SyncStatus:
    del args
    row = await repo.sync_status(context.session, user_id)
    if row is None:
        raise UnknownUser(f"no user with id {user_id}", details={"user_id": str(user_id)})
    return SyncStatus.model_validate(row)


async def latest_job_runs(context: ToolContext, args: OpsListArgs, user_id: UUID) -> JobRuns:
    rows = await repo.job_runs(context.session, user_id, args.limit)
    return JobRuns(user_id=user_id, job_runs=[JobRunSummary.model_validate(row) for row in rows])


async def latest_import_jobs(context: ToolContext, args: OpsListArgs, user_id: UUID) -> ImportJobs:
    rows = await repo.import_jobs(context.session, user_id, args.limit)
    return ImportJobs(user_id=user_id, import_jobs=[ImportJobSummary.model_validate(row) for row in rows])
