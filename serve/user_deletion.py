"""Deleting a user: every row of theirs in every schema, then their uploaded files.

The database part is one transaction (the caller's unit of work): the user's warehouse rows (every table of the
transform's schemas with a `user_id` column, found in the catalogue: transform.warehouse_purge), their log lines,
and the user row, whose foreign keys cascade to everything else of theirs in `app` and `raw` (Spotify and API
tokens, OAuth grants, codes, tokens and sign-in links, sync checkpoints, job runs, import jobs, notifications, API
plays; export records through the `users_delete_export_records` trigger), and the `local:` tracks only their
export named (raw.tracks). Requests to Spotify keep their row
(the budget spent stays spent) without the link to the user. Files are removed only after the transaction
committed (`remove_files`), so a rolled-back deletion never leaves a user whose pending import lost its file.

Files: the ZIPs of the user's import jobs that are still in UPLOAD_DIR (uploads are deleted when their import
ends, so only pending or interrupted ones are left). Files in IMPORT_WATCH_DIR are the owner's own copies and
stay where they are.

A transform running while a user is deleted may write their rows after the purge: the runner purges the rows
of users deleted during its run before it ends (transform.runner).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from transform.warehouse_purge import purge_warehouse_async

logger = logging.getLogger("api")


@dataclass(frozen=True, slots=True)
class DeletedUser:
    user_id: uuid.UUID
    # Rows removed from the warehouse, per `schema.table`.
    warehouse_rows: dict[str, int]
    # Uploaded files of the user, to remove once the transaction committed.
    files: list[Path]


async def delete_user(session: AsyncSession, user_id: uuid.UUID, *, upload_dir: Path) -> DeletedUser | None:
    """Delete the user and all their rows in the session's transaction; None when there is no such user."""
    # The row lock first: an import landing records for this user holds FOR KEY SHARE on it per batch, so the
    # deletion waits for the batch in flight and no later batch can start.
    locked = await session.execute(text("select id from app.users where id = :id for update"), {"id": user_id})
    if locked.first() is None:
        return None
    stored = await session.execute(
        text("select storage_path from app.import_jobs where user_id = :id and origin = 'upload'"), {"id": user_id}
    )
    files = [path for (raw,) in stored.all() if _inside(path := Path(str(raw)), upload_dir)]
    warehouse_rows = await purge_warehouse_async(session, [user_id])
    # Log lines bound to the user (core.log's context): the GIN index on `context` answers `@>`.
    await session.execute(
        text("delete from app.logs where context @> jsonb_build_object('user_id', cast(:id as text))"),
        {"id": str(user_id)},
    )
    await session.execute(text("delete from app.users where id = :id"), {"id": user_id})
    # The names the user's export registered as `local:` tracks (raw.tracks, for the resolver and the catalogue)
    # go too when no other user's export names the same track: they were read from this user's files, and a
    # registration nobody's listening refers to would stay in dim_tracks as a track no clean import has. One
    # anti-join over the export records; a deletion is rare. Resolutions stay: they hold ids, not names.
    await session.execute(
        text(
            "delete from raw.tracks as t where t.track_id like 'local:%' and not exists "
            "(select from raw.export_records as e where e.track_id = t.track_id)"
        )
    )
    return DeletedUser(user_id, warehouse_rows, files)


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().parent == folder.resolve()
    except OSError:
        return False


def remove_files(paths: Iterable[Path]) -> None:
    """Remove the files of a deleted user (after the deletion committed); a file already gone is fine."""
    for path in paths:
        try:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        except OSError as error:  # the rows are gone already: say which file is left, do not fail the deletion
            logger.error("could not remove %s of a deleted user: %s", path, error)
