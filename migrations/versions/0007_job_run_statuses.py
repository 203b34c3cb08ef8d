"""app.job_runs.status: `interrupted` (stopped by a signal mid-run) and `abandoned` (left `running` by a process
that was killed; marked when the next process finds it)

Revision ID: 0007_job_run_statuses
Revises: 0006_collector_budget
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_job_run_statuses"
down_revision: str | None = "0006_collector_budget"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECK = "ck_job_runs_status"
_BEFORE = "status IN ('running', 'success', 'error', 'partial')"
_AFTER = "status IN ('running', 'success', 'error', 'partial', 'interrupted', 'abandoned')"


def upgrade() -> None:
    op.drop_constraint(op.f(_CHECK), "job_runs", schema="app", type_="check")
    op.create_check_constraint(op.f(_CHECK), "job_runs", _AFTER, schema="app")


def downgrade() -> None:
    # The older schema has neither status: both runs ended without a result, which it calls `error`.
    op.execute("UPDATE app.job_runs SET status = 'error' WHERE status IN ('interrupted', 'abandoned')")
    op.drop_constraint(op.f(_CHECK), "job_runs", schema="app", type_="check")
    op.create_check_constraint(op.f(_CHECK), "job_runs", _BEFORE, schema="app")
