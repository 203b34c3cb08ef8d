"""raw.export_records: re-key incognito rows and reclassify the rows of Video files (issue 15.6, 15.7)

The importer now (a) hashes `|incognito` into the `record_key` of incognito records, so that an incognito play
and a normal one of the same item, time and length are two rows, and (b) classifies each record by its own
fields: a `Streaming_History_Video_*` file no longer makes its rows `video` (they are music and podcasts).
Every other record keeps the key it had. For re-importing the same export after the upgrade to add nothing,
the rows stored before get the key the importer computes now:

- extended-history rows with `incognito` true: `|incognito` added to the hashed part;
- rows stored as `video` (all came from Video files): the kind by their fields (track id → `track`; episode
  name/show or an episode URI → `episode`; else `audiobook`) and the key of that kind.

The time prefix of the key is kept. A row is only re-keyed when its stored key is the one the old formula
gives for it (rows of an older key scheme are left alone). A re-keyed row whose new key another row of the
user already has (the same play stored from an Audio and a Video file) is the same play: it is removed.
`ingested_at` moves for every row changed (and for the row a removed duplicate matched), so that the
incremental transform recomputes those listens.

The key formula is copied here, frozen, on purpose: a migration must not change when the importer does.

Revision ID: 0005_import_record_keys
Revises: 0004_oauth_dcr_per_address
Create Date: 2026-12-07 11:30:00
"""

import hashlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005_import_record_keys"
down_revision: str | None = "0004_oauth_dcr_per_address"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")

_BATCH = 10_000


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:24]


def _kind_and_identity(row: Any, kind: str) -> tuple[str, str]:
    """The kind the importer now gives a stored row (its fields decide; `video` is no kind of its own) and the
    item identity it hashes (exactly `normalize.Normalizer._extended`'s)."""
    uri = row.spotify_uri
    if kind == "video":
        if row.track_id is not None:
            kind = "track"
        elif row.episode_name or row.show_name or (uri or "").startswith("spotify:episode:"):
            kind = "episode"
        else:
            kind = "audiobook"
    if kind == "track":
        return kind, uri or row.track_id or ""
    if kind == "episode":
        return kind, uri or f"{row.show_name or ''}|{row.episode_name or ''}"
    return kind, uri or f"{row.audiobook_title or ''}|{row.audiobook_chapter_title or ''}"


def _rekeyed(rows: Iterable[Any]) -> tuple[list[dict[str, object]], int]:
    """(new key and kind per row whose stored key the old formula reproduces, how many did not match)."""
    changes: list[dict[str, object]] = []
    unmatched = 0
    for row in rows:
        prefix, _, stored_digest = row.record_key.rpartition("|")
        # The identity does not depend on the kind's name: a `video` row hashed the identity of the branch its
        # fields took, the kind it gets now.
        kind, identity = _kind_and_identity(row, row.content_kind)
        if _digest(f"x|{row.content_kind}|{identity}|{row.ms_played}") != stored_digest:
            unmatched += 1
            continue
        source = f"x|{kind}|{identity}|{row.ms_played}" + ("|incognito" if row.incognito else "")
        changes.append({"id": row.id, "user_id": row.user_id, "new_key": f"{prefix}|{_digest(source)}", "kind": kind})
    return changes, unmatched


def upgrade() -> None:
    connection = op.get_bind()
    op.execute(
        'CREATE TEMP TABLE rekey (id bigint PRIMARY KEY, user_id uuid NOT NULL, new_key text COLLATE "C" NOT NULL, '
        "new_kind text NOT NULL)"
    )
    insert = sa.text("INSERT INTO rekey (id, user_id, new_key, new_kind) VALUES (:id, :user_id, :new_key, :kind)")
    select = sa.text(
        "SELECT id, user_id, record_key, content_kind, track_id, spotify_uri, episode_name, show_name, "
        "audiobook_title, audiobook_chapter_title, ms_played, incognito FROM raw.export_records "
        "WHERE source_format = 'extended' AND (incognito IS TRUE OR content_kind = 'video') AND id > :after "
        "ORDER BY id LIMIT :batch"
    )
    unmatched = 0
    changed = 0
    after = 0
    while batch := connection.execute(select, {"after": after, "batch": _BATCH}).all():
        after = batch[-1].id
        changes, missed = _rekeyed(batch)
        unmatched += missed
        changed += len(changes)
        if changes:
            connection.execute(insert, changes)
    if unmatched:
        logger.warning(
            "0005: %d incognito/video export rows have a key of an older scheme; left as they are", unmatched
        )
    if not changed:
        op.execute("DROP TABLE rekey")
        return
    # Two re-keyed rows of one user with the same new key are one play: keep the first.
    op.execute(
        """
        WITH doubles AS (
            SELECT id FROM (
                SELECT id, row_number() OVER (PARTITION BY user_id, new_key ORDER BY id) AS n FROM rekey
            ) ranked WHERE n > 1
        ), removed AS (DELETE FROM raw.export_records WHERE id IN (SELECT id FROM doubles) RETURNING id)
        DELETE FROM rekey WHERE id IN (SELECT id FROM removed)
        """
    )
    # A re-keyed row whose new key a row that stays has already: the same play stored twice. The survivor's
    # ingested_at moves so that the transform recomputes the listen.
    op.execute(
        """
        WITH taken AS (
            SELECT k.id, kept.id AS kept_id
            FROM rekey k
            JOIN raw.export_records kept ON kept.user_id = k.user_id AND kept.record_key = k.new_key
            WHERE NOT EXISTS (SELECT 1 FROM rekey other WHERE other.id = kept.id)
        ), touched AS (
            UPDATE raw.export_records SET ingested_at = now() WHERE id IN (SELECT kept_id FROM taken) RETURNING id
        ), removed AS (
            DELETE FROM raw.export_records WHERE id IN (SELECT id FROM taken) RETURNING id
        )
        DELETE FROM rekey WHERE id IN (SELECT id FROM removed)
        """
    )
    # Through a placeholder key first: a new key may be another re-keyed row's old one.
    op.execute("UPDATE raw.export_records r SET record_key = 'rekey:' || r.id FROM rekey k WHERE r.id = k.id")
    op.execute(
        "UPDATE raw.export_records r SET record_key = k.new_key, content_kind = k.new_kind, ingested_at = now() "
        "FROM rekey k WHERE r.id = k.id"
    )
    op.execute("DROP TABLE rekey")


def downgrade() -> None:
    # The old keys are not kept; re-keyed rows stay valid rows. Rows reclassified from `video` stay reclassified.
    pass
