"""IMPORT_WATCH_DIR: ZIPs dropped into a folder become import jobs, each taken exactly once.

Layout: `<dir>/*.zip` (for the only user; a local user is created when there is none) or
`<dir>/<user id, Spotify user id or display name>/*.zip` — and Last.fm / ListenBrainz `.csv`, `.json`, `.jsonl`
files beside them (the importer tells every file by its content). A file is taken by renaming it into
`<dir>/processing/` — a rename succeeds for exactly one collector, however many scan the folder — and only
once it has not changed for `settle_seconds` (still being copied otherwise). After the import it moves to
`<dir>/done/` or `<dir>/failed/` (with `<name>.error.txt` saying why). A ZIP whose sha256 was already
imported for the same user is moved to `done/` without a second import.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.imports import jobs, users

logger = logging.getLogger("ingest.imports.watch")

PROCESSING: Final = "processing"
DONE: Final = "done"
FAILED: Final = "failed"
_RESERVED: Final = frozenset({PROCESSING, DONE, FAILED})
# What is taken from the folder (anything else, e.g. an `.error.txt` or a half-copied `.part`, is left alone).
_SUFFIXES: Final = (".zip", ".csv", ".json", ".jsonl")


def _importable(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.lower().endswith(_SUFFIXES) and not p.name.startswith("."))


@dataclass(frozen=True, slots=True)
class Taken:
    path: Path
    original_name: str
    owner: str | None  # the sub-folder name, or None at the top level


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _candidates(watch_dir: Path) -> list[tuple[Path, str | None]]:
    found: list[tuple[Path, str | None]] = [(path, None) for path in _importable(watch_dir)]
    for folder in sorted(watch_dir.iterdir()):
        if folder.is_dir() and not folder.is_symlink() and folder.name not in _RESERVED:
            found.extend((path, folder.name) for path in _importable(folder))
    return found


def take_files(watch_dir: Path, *, settle_seconds: float = 2.0) -> list[Taken]:
    """Rename settled ZIPs into processing/; return those this process won."""
    if not watch_dir.is_dir():
        return []
    processing = watch_dir / PROCESSING
    processing.mkdir(exist_ok=True)
    taken: list[Taken] = []
    now = time.time()
    for path, owner in _candidates(watch_dir):
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if not path.is_file() or path.is_symlink() or now - info.st_mtime < settle_seconds:
            continue
        prefix = f"{owner}__" if owner else ""
        target = processing / f"{uuid.uuid4().hex[:12]}__{prefix}{path.name}"
        try:
            os.rename(path, target)  # atomic: exactly one collector wins
        except FileNotFoundError:
            continue  # another collector took it
        taken.append(Taken(target, path.name, owner))
    return taken


def move_aside(path: Path, watch_dir: Path, *, failed: bool, message: str | None = None) -> Path:
    """Move a processed file to done/ or failed/ (keeping its original name when free)."""
    folder = watch_dir / (FAILED if failed else DONE)
    folder.mkdir(exist_ok=True)
    original = path.name.split("__")[-1]
    target = folder / original
    if target.exists():
        target = folder / f"{target.stem}-{uuid.uuid4().hex[:8]}{target.suffix}"
    os.replace(path, target)
    if failed and message:
        target.with_name(target.name + ".error.txt").write_text(message + "\n")
    return target


async def resolve_owner(engine: AsyncEngine, owner: str | None) -> tuple[uuid.UUID | None, str | None]:
    """The user a watched file belongs to, or (None, why not)."""
    async with engine.begin() as connection:
        if owner is not None:
            found = await users.find_users(connection, owner)
            if len(found) == 1:
                return found[0].id, None
            problem = "no user" if not found else "more than one user"
            return None, (
                f"{problem} matches the folder name `{owner}`; name the folder after a user id, Spotify user id "
                "or a unique display name"
            )
        rows = (await connection.execute(text("SELECT id FROM app.users ORDER BY created_at LIMIT 2"))).all()
        if len(rows) == 1:
            return rows[0][0], None
        if rows:
            return None, (
                "there are several users, so a ZIP at the top of the watch folder has no owner; put it in a "
                "sub-folder named after the user id or display name"
            )
        return (await users.local_user(connection)).id, None


async def _already_imported(engine: AsyncEngine, user_id: uuid.UUID, sha: str) -> int | None:
    async with engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT id FROM app.import_jobs WHERE user_id = :user_id AND file_sha256 = :sha "
                "AND status IN ('pending', 'running', 'success') ORDER BY id LIMIT 1"
            ),
            {"user_id": user_id, "sha": sha},
        )
        value = found.scalar_one_or_none()
    return int(value) if value is not None else None


async def _orphans(engine: AsyncEngine, watch_dir: Path, *, older_than: float) -> list[Taken]:
    """Files left in processing/ by a collector that died before creating their job."""
    processing = watch_dir / PROCESSING
    if not processing.is_dir():
        return []
    now = time.time()
    files = [p for p in _importable(processing) if now - p.stat().st_mtime > older_than]
    if not files:
        return []
    async with engine.connect() as connection:
        known = {
            row[0]
            for row in await connection.execute(
                text("SELECT storage_path FROM app.import_jobs WHERE storage_path = ANY(:paths)"),
                {"paths": [str(p) for p in files]},
            )
        }
    orphans: list[Taken] = []
    for path in files:
        if str(path) in known:
            continue
        parts = path.name.split("__")
        owner = parts[1] if len(parts) == 3 else None
        target = processing / f"{uuid.uuid4().hex[:12]}__{'__'.join(parts[1:])}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            continue
        orphans.append(Taken(target, parts[-1], owner))
    return orphans


async def scan_watch_dir(engine: AsyncEngine, watch_dir: Path, *, settle_seconds: float = 2.0) -> list[int]:
    """Turn new files of the watch folder into pending import jobs; return their ids."""
    taken = await asyncio.to_thread(take_files, watch_dir, settle_seconds=settle_seconds)
    taken += await _orphans(engine, watch_dir, older_than=jobs.STALE_AFTER.total_seconds())
    created: list[int] = []
    for item in taken:
        user_id, problem = await resolve_owner(engine, item.owner)
        if user_id is None:
            message = f"{item.original_name}: not imported: {problem}"
            move_aside(item.path, watch_dir, failed=True, message=message)
            logger.warning(message)
            continue
        sha = await asyncio.to_thread(sha256_of, item.path)
        previous = await _already_imported(engine, user_id, sha)
        if previous is not None:
            move_aside(item.path, watch_dir, failed=False)
            logger.info("%s was already imported (job %s); moved to done/", item.original_name, previous)
            continue
        async with engine.begin() as connection:
            job_id = await jobs.create_job(
                connection,
                user_id=user_id,
                storage_path=item.path,
                original_filename=item.original_name,
                origin="watch",
                file_size_bytes=item.path.stat().st_size,
                file_sha256=sha,
            )
        logger.info("watched file %s queued as import job %s", item.original_name, job_id)
        created.append(job_id)
    return created
