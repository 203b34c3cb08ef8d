"""Drop the relations dbt left behind under model names that no model defines any more: dbt never drops a
relation whose model was renamed or removed, so they sat in its schemas, stale (nothing reads them) and, for
the incremental table, as large as the rows it held.

- `intermediate.int_name_candidates`: the incremental table of name evidence, renamed `int_name_evidence`
  (per-user evidence, issue 15); it still held the evidence of deleted users.
- `staging.stg_spotify__listens_out_of_contract`: the view renamed `stg_spotify__out_of_contract_listens`.

Found by comparing every model file the repository ever had (git log) with today's models; no mart was
renamed or removed. Each is dropped by its kind (table or view) only if it exists, and without CASCADE: no
current model reads them, so a dependency found here would be someone's own view, which the error names.

Revision ID: 0012_drop_orphaned_relations
Revises: 0011_import_preview
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_drop_orphaned_relations"
down_revision: str | None = "0011_import_preview"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORPHANED_RELATIONS: tuple[tuple[str, str], ...] = (
    ("intermediate", "int_name_candidates"),
    ("staging", "stg_spotify__listens_out_of_contract"),
)


def upgrade() -> None:
    for schema, name in ORPHANED_RELATIONS:
        # DROP TABLE refuses a view and DROP VIEW a table: look the kind up (a fresh database has neither).
        op.execute(
            f"""
            DO $$
            DECLARE kind "char";
            BEGIN
                SELECT c.relkind INTO kind
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = '{schema}' AND c.relname = '{name}';
                IF kind IN ('r', 'p') THEN
                    DROP TABLE {schema}.{name};
                ELSIF kind = 'v' THEN
                    DROP VIEW {schema}.{name};
                ELSIF kind = 'm' THEN
                    DROP MATERIALIZED VIEW {schema}.{name};
                END IF;
            END
            $$
            """
        )


def downgrade() -> None:
    # Nothing to restore: no model builds these relations any more, and dbt rebuilds everything it owns.
    pass
