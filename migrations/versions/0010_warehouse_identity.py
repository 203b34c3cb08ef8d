"""app.users.timezone_changed_at: when the user's time zone last changed, set by a trigger, so the next
incremental transform rebuilds that user's zone-dependent marts (local dates, hours, weekdays)

Revision ID: 0010_warehouse_identity
Revises: 0009_playlists
Create Date: 2026-12-07 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_warehouse_identity"
down_revision: str | None = "0009_playlists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("timezone_changed_at", sa.DateTime(timezone=True), nullable=True), schema="app")
    # A trigger rather than the code that edits users: every way of changing the zone (admin API, SQL by hand,
    # a future face) is seen, and now() is the transaction's start, which the transform's ingested-at watermark
    # is built for (a change committed late is still after the watermark of the run that missed it).
    op.execute(
        """
        CREATE FUNCTION app.users_timezone_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.timezone_changed_at := now();
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER users_timezone_changed
            BEFORE UPDATE OF timezone ON app.users
            FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
            EXECUTE FUNCTION app.users_timezone_changed()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER users_timezone_changed ON app.users")
    op.execute("DROP FUNCTION app.users_timezone_changed()")
    op.drop_column("users", "timezone_changed_at", schema="app")
