"""raw.scrobbles: the service is part of `record_key` (`…|lb` ListenBrainz, `…|fm` Last.fm), so that which rows are
stored no longer depends on the order of imports (issue 21).

Before, the same listen from ListenBrainz and from Last.fm (same start second, same case-folded artist and track)
had one key, and whichever service was imported first kept its row: the stored source, Spotify id, length and
MusicBrainz ids (only ListenBrainz has them) depended on the order. Now both rows are stored and the warehouse
pairs them, keeping ListenBrainz's (rule 4 of int_plays_deduplicated). Stored keys get their row's mark; the rows
the old rule turned away come in with the next import of that service. `ingested_at` is left as it was: the
models read nothing of the key.

Downgrade: of a listen stored from both services the Last.fm row goes (the one the warehouse did not keep), then the
marks are cut.

Revision ID: 0013_scrobble_keys_per_service
Revises: 0012_drop_orphaned_relations
Create Date: 2026-12-07 21:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_scrobble_keys_per_service"
down_revision: str | None = "0012_drop_orphaned_relations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `<11 digits>|<24 hex digits>`: a key without a service mark (ingest.imports.scrobbles.record_key before).
_UNMARKED_LENGTH = 36


def upgrade() -> None:
    op.execute(
        f"""
        UPDATE raw.scrobbles
        SET record_key = record_key || CASE source WHEN 'listenbrainz' THEN '|lb' ELSE '|fm' END
        WHERE length(record_key) = {_UNMARKED_LENGTH}
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DELETE FROM raw.scrobbles AS lastfm
        USING raw.scrobbles AS listenbrainz
        WHERE lastfm.source = 'lastfm'
            AND listenbrainz.source = 'listenbrainz'
            AND listenbrainz.user_id = lastfm.user_id
            AND left(listenbrainz.record_key, {_UNMARKED_LENGTH}) = left(lastfm.record_key, {_UNMARKED_LENGTH})
        """
    )
    op.execute(
        f"UPDATE raw.scrobbles SET record_key = left(record_key, {_UNMARKED_LENGTH}) "
        f"WHERE length(record_key) > {_UNMARKED_LENGTH}"
    )
