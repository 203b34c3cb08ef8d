"""raw.export_records: replace the per-row user foreign key by a per-batch lock and a delete trigger

A row-level foreign key is checked once per COPYed row; on a 1,000,000-record import that check was ~40 % of
PostgreSQL's work (bench/README.md, ZIP import). The importer now takes `FOR KEY SHARE` on the user row at the
start of each batch transaction (the same lock the foreign key took per row, so a concurrent user deletion
waits for the batch and the next batch sees the user gone), and deleting a user still removes their export
records, through an AFTER DELETE trigger on app.users.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 04:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "fk_export_records_user_id_users"


def upgrade() -> None:
    op.drop_constraint(_FK, "export_records", schema="raw", type_="foreignkey")
    op.execute(
        """
        CREATE FUNCTION raw.delete_user_export_records() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM raw.export_records WHERE user_id = OLD.id;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER users_delete_export_records AFTER DELETE ON app.users "
        "FOR EACH ROW EXECUTE FUNCTION raw.delete_user_export_records()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER users_delete_export_records ON app.users")
    op.execute("DROP FUNCTION raw.delete_user_export_records()")
    op.execute("DELETE FROM raw.export_records e WHERE NOT EXISTS (SELECT 1 FROM app.users u WHERE u.id = e.user_id)")
    op.create_foreign_key(
        _FK,
        "export_records",
        "users",
        ["user_id"],
        ["id"],
        source_schema="raw",
        referent_schema="app",
        ondelete="CASCADE",
    )
