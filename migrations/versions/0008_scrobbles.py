"""raw.scrobbles: ListenBrainz listens and Last.fm scrobbles (issue 21); import_jobs.format_detected gains
`listenbrainz` and `lastfm`

Like raw.export_records (migration 0003): no row-level foreign key to app.users (checked per COPYed row it is
the largest cost of a bulk import); the importer locks the user row once per batch and an AFTER DELETE trigger
on app.users removes a deleted user's scrobbles. BRIN on `ingested_at` (rows arrive in that order), a
byte-wise collated `record_key`.

Revision ID: 0008_scrobbles
Revises: 0007_job_run_statuses
Create Date: 2026-12-07 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_scrobbles"
down_revision: str | None = "0007_job_run_statuses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FORMAT_CHECK = "ck_import_jobs_format_detected"
_FORMATS_BEFORE = "format_detected IS NULL OR format_detected IN ('endsong', 'streaming_history', 'mixed')"
_FORMATS_AFTER = (
    "format_detected IS NULL OR format_detected IN ('endsong', 'streaming_history', 'mixed', 'listenbrainz', 'lastfm')"
)


def upgrade() -> None:
    op.create_table(
        "scrobbles",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("import_job_id", sa.BigInteger(), nullable=True),
        sa.Column("record_key", sa.Text(collation="C"), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("artist_name", sa.Text(), nullable=False),
        sa.Column("track_name", sa.Text(), nullable=False),
        sa.Column("album_name", sa.Text(), nullable=True),
        sa.Column("spotify_track_id", sa.Text(), nullable=True),
        sa.Column("recording_mbid", sa.Text(), nullable=True),
        sa.Column("release_mbid", sa.Text(), nullable=True),
        sa.Column("artist_mbid", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("source IN ('listenbrainz', 'lastfm')", name=op.f("ck_scrobbles_source")),
        sa.CheckConstraint("duration_ms IS NULL OR duration_ms > 0", name=op.f("ck_scrobbles_duration_ms_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scrobbles")),
        sa.UniqueConstraint("user_id", "record_key", name=op.f("uq_scrobbles_user_id_record_key")),
        schema="raw",
    )
    op.create_index(
        op.f("ix_scrobbles_ingested_at"),
        "scrobbles",
        ["ingested_at"],
        schema="raw",
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
    )
    op.create_index(op.f("ix_scrobbles_user_id_started_at"), "scrobbles", ["user_id", "started_at"], schema="raw")
    op.execute(
        """
        CREATE FUNCTION raw.delete_user_scrobbles() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM raw.scrobbles WHERE user_id = OLD.id;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER users_delete_scrobbles AFTER DELETE ON app.users "
        "FOR EACH ROW EXECUTE FUNCTION raw.delete_user_scrobbles()"
    )
    op.drop_constraint(op.f(_FORMAT_CHECK), "import_jobs", schema="app", type_="check")
    op.create_check_constraint(op.f(_FORMAT_CHECK), "import_jobs", _FORMATS_AFTER, schema="app")


def downgrade() -> None:
    # The older schema knows only Spotify formats: a scrobble import's job keeps its row without a format.
    op.execute("UPDATE app.import_jobs SET format_detected = NULL WHERE format_detected IN ('listenbrainz', 'lastfm')")
    op.drop_constraint(op.f(_FORMAT_CHECK), "import_jobs", schema="app", type_="check")
    op.create_check_constraint(op.f(_FORMAT_CHECK), "import_jobs", _FORMATS_BEFORE, schema="app")
    op.execute("DROP TRIGGER users_delete_scrobbles ON app.users")
    op.execute("DROP FUNCTION raw.delete_user_scrobbles()")
    op.drop_table("scrobbles", schema="raw")
