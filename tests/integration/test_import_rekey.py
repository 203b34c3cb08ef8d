"""Upgrading keeps re-imports idempotent (issue 15.6/15.7 care point): rows imported under the old record key
(no incognito in it; rows of Video files stored as `video`) are re-keyed by migration 0005, so importing the
same export again after the upgrade adds nothing, and the rows are what a fresh import gives."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core import migrate
from core.crypto import generate_key
from core.db import create_engine
from core.settings import Settings, load_settings
from ingest.imports.worker import process_pending_imports
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.exports import build_zip, episode, extended
from tests.fixtures.exports.helpers import create_user, fetch, queue_zip

# The revision before migration 0005_import_record_keys.
BEFORE = "0004_oauth_dcr_per_address"
AUDIO = "Spotify Extended Streaming History/Streaming_History_Audio_2023_0.json"
VIDEO = "Spotify Extended Streaming History/Streaming_History_Video_2023.json"

ROW_COLUMNS = (
    "record_key, played_at, ms_played, content_kind, track_id, track_name, spotify_uri, episode_name, show_name, "
    "incognito"
)


def _export(path: Path) -> Path:
    return build_zip(
        path,
        {
            AUDIO: [
                extended("2023-01-01T10:00:00Z", 200_000),
                extended("2023-01-01T10:05:00Z", 150_000, incognito=True),
                extended("2023-01-01T10:09:00Z", 99_000, incognito=True),
                episode("2023-01-01T11:00:00Z", 900_000, name="Shared Ep", show="Shared Show"),
            ],
            VIDEO: [
                episode("2023-02-01T09:00:00Z", 90_000, name="Video Ep", show="Video Show"),
                extended("2023-02-01T09:30:00Z", 210_000, uri="spotify:track:1301WleyT98MSxVHPZCA6M", incognito=True),
                episode("2023-02-01T10:00:00Z", 95_000, name="Bare", show="", uri=None),
                # Listed in the Audio file too: one play.
                episode("2023-01-01T11:00:00Z", 900_000, name="Shared Ep", show="Shared Show"),
            ],
        },
    )


def _old_key(row: dict[str, Any]) -> str:
    """The key the importer computed before: `video` for rows of Video files, incognito not hashed."""
    prefix = row["record_key"].rpartition("|")[0]
    if row["content_kind"] == "track":
        identity = row["spotify_uri"] or row["track_id"]
    else:
        identity = row["spotify_uri"] or f"{row['show_name'] or ''}|{row['episode_name'] or ''}"
    kind = "video" if row["source_file"] == VIDEO else row["content_kind"]
    return f"{prefix}|{hashlib.sha1(f'x|{kind}|{identity}|{row["ms_played"]}'.encode()).hexdigest()[:24]}"


@pytest.fixture
async def old_engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    """A database at the revision before the re-keying (what an install has before upgrading)."""
    await asyncio.to_thread(migrate.upgrade, empty_database_url, BEFORE)
    engine = create_engine(empty_database_url, application_name="spotify-mcp tests")
    try:
        yield engine
    finally:
        await engine.dispose()


def _settings(url: str, home: Path) -> Settings:
    return load_settings(
        {
            "DATABASE_URL": url,
            "TOKEN_ENCRYPTION_KEY": generate_key(),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SPOTIFY_MCP_HOME": str(home),
        }
    )


async def _import_as_before(engine: AsyncEngine, settings: Settings, user: uuid.UUID, path: Path) -> None:
    """Import, then give every row the key and kind the previous importer gave it (a second copy of the shared
    episode, which the old keys kept apart, included)."""
    await queue_zip(engine, user, path)
    await process_pending_imports(engine, settings, worker_id="w")
    rows = await fetch(engine, "SELECT id, source_file, " + ROW_COLUMNS + " FROM raw.export_records")
    async with engine.begin() as connection:
        for row in rows:
            kind = "video" if row["source_file"] == VIDEO else row["content_kind"]
            await connection.execute(
                text("UPDATE raw.export_records SET record_key = :key, content_kind = :kind WHERE id = :id"),
                {"key": _old_key(row), "kind": kind, "id": row["id"]},
            )
        shared = next(row for row in rows if row["episode_name"] == "Shared Ep")
        await connection.execute(
            text(
                "INSERT INTO raw.export_records (user_id, import_job_id, record_key, played_at, ms_played, "
                "content_kind, source_format, episode_name, show_name, spotify_uri, incognito, source_file) "
                "SELECT user_id, import_job_id, :key, played_at, ms_played, 'video', source_format, episode_name, "
                "show_name, spotify_uri, incognito, :file FROM raw.export_records WHERE id = :id"
            ),
            {"key": _old_key(shared | {"source_file": VIDEO}), "file": VIDEO, "id": shared["id"]},
        )


async def test_reimport_after_the_upgrade_adds_nothing_and_matches_a_fresh_import(
    old_engine: AsyncEngine, empty_database_url: str, tmp_path: Path
) -> None:
    settings = _settings(empty_database_url, tmp_path / "home")
    path = _export(tmp_path / "export.zip")
    before_upgrade = await create_user(old_engine, "imported-before")
    await _import_as_before(old_engine, settings, before_upgrade, path)
    stored = await fetch(old_engine, "SELECT content_kind, incognito FROM raw.export_records")
    assert len(stored) == 8 and sum(row["content_kind"] == "video" for row in stored) == 4
    # Rows of an older key scheme are left as they are.
    async with old_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO raw.export_records (user_id, record_key, played_at, ms_played, content_kind, "
                "source_format, track_id, incognito) VALUES (:u, 'legacy-scheme-key', '2022-01-01', 1, 'track', "
                "'extended', 'T0', true)"
            ),
            {"u": before_upgrade},
        )

    await asyncio.to_thread(migrate.upgrade, empty_database_url)

    assert await fetch(old_engine, "SELECT 1 FROM raw.export_records WHERE content_kind = 'video'") == []
    assert len(await fetch(old_engine, "SELECT 1 FROM raw.export_records WHERE user_id = :u", u=before_upgrade)) == 8
    assert await fetch(old_engine, "SELECT 1 FROM raw.export_records WHERE record_key = 'legacy-scheme-key'") != []
    # The same export again, after the upgrade: nothing new.
    await queue_zip(old_engine, before_upgrade, path)
    assert await process_pending_imports(old_engine, settings, worker_id="w") == 0

    # What the upgraded rows are equals what a fresh import on the new version gives.
    fresh = await create_user(old_engine, "imported-after")
    await queue_zip(old_engine, fresh, path)
    assert await process_pending_imports(old_engine, settings, worker_id="w") == 7
    query = f"SELECT {ROW_COLUMNS} FROM raw.export_records WHERE user_id = :u AND track_id IS DISTINCT FROM 'T0' "
    order = "ORDER BY record_key"
    upgraded = await fetch(old_engine, query + order, u=before_upgrade)
    assert upgraded == await fetch(old_engine, query + order, u=fresh)
    kinds = sorted(row["content_kind"] for row in upgraded)
    assert kinds == ["episode", "episode", "episode", "track", "track", "track", "track"]
    assert sum(bool(row["incognito"]) for row in upgraded) == 3


async def test_the_upgrade_changes_nothing_when_there_is_nothing_to_rekey(
    old_engine: AsyncEngine, empty_database_url: str, tmp_path: Path
) -> None:
    settings = _settings(empty_database_url, tmp_path / "home")
    user = await create_user(old_engine)
    await queue_zip(old_engine, user, build_zip(tmp_path / "x.zip", {AUDIO: [extended("2023-01-01T10:00:00Z", 1)]}))
    await process_pending_imports(old_engine, settings, worker_id="w")
    before = await fetch(old_engine, "SELECT id, record_key, content_kind, ingested_at FROM raw.export_records")
    await asyncio.to_thread(migrate.upgrade, empty_database_url)
    assert await fetch(old_engine, "SELECT id, record_key, content_kind, ingested_at FROM raw.export_records") == before
