"""app.import_jobs: the preview step of an upload (issue 21). New statuses `preview` (queued for the collector to
preview), `previewed` (the preview is stored, waiting for the person) and `discarded`; the preview itself in
`import_jobs.preview` (JSONB)

Revision ID: 0011_import_preview
Revises: 0010_warehouse_identity
Create Date: 2026-12-07 15:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_import_preview"
down_revision: str | None = "0010_warehouse_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECK = "ck_import_jobs_status"
_BEFORE = "status IN ('pending', 'running', 'success', 'error', 'partial')"
_AFTER = "status IN ('pending', 'running', 'success', 'error', 'partial', 'preview', 'previewed', 'discarded')"


def upgrade() -> None:
    op.add_column(
        "import_jobs", sa.Column("preview", postgresql.JSONB(astext_type=sa.Text()), nullable=True), schema="app"
    )
    op.drop_constraint(op.f(_CHECK), "import_jobs", schema="app", type_="check")
    op.create_check_constraint(op.f(_CHECK), "import_jobs", _AFTER, schema="app")


def downgrade() -> None:
    # The older schema cannot wait for a person: a preview not confirmed ends as an error, a discarded one too.
    op.execute(
        "UPDATE app.import_jobs SET status = 'error', finished_at = coalesce(finished_at, now()), "
        "error_message = coalesce(error_message, 'previewed but never confirmed (the preview step was removed)') "
        "WHERE status IN ('preview', 'previewed', 'discarded')"
    )
    op.drop_constraint(op.f(_CHECK), "import_jobs", schema="app", type_="check")
    op.create_check_constraint(op.f(_CHECK), "import_jobs", _BEFORE, schema="app")
    op.drop_column("import_jobs", "preview", schema="app")
