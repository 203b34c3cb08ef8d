"""Enable pg_trgm (trigram matching, shipped with PostgreSQL 15–18 and the embedded server) so that the
warehouse can index track titles for "contains" searches: `history.track_history` by title looks a title up
in a trigram index on `marts.dim_tracks` instead of joining every track of the user (issue 18).

pg_trgm is a trusted extension: a role with CREATE on the database (which the migrations need anyway, for their
schemas) may create it. Where it still cannot be created (a server without the extension's files, a role whose
schemas a DBA made and that lacks CREATE), the migration warns and goes on: the transform then builds no trigram index and title searches give the same matches, only slower
(`dim_tracks`' post-hook checks for the extension; the search SQL needs none of its functions).

Revision ID: 0014_pg_trgm
Revises: 0013_scrobble_keys_per_service
Create Date: 2026-12-07 21:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_pg_trgm"
down_revision: str | None = "0013_scrobble_keys_per_service"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Also run by the test of a role that may not create extensions.
ENABLE_PG_TRGM = """
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE WARNING 'pg_trgm not enabled (%): track title searches work without its index, only slower; '
                  'a superuser can run CREATE EXTENSION pg_trgm in this database', SQLERRM;
END
$$
"""


def upgrade() -> None:
    op.execute(ENABLE_PG_TRGM)


def downgrade() -> None:
    # Left in place: an extension may serve more than this installation's index (dropping it would take the
    # index with it, and anything else an operator built on it).
    pass
