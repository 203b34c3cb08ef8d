"""The demo's generated export goes through the real import path and is removed afterwards (issue 16.9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.demo import import_demo
from core.settings import Settings
from tests.fixtures.exports.helpers import create_user, fetch


def _listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")) if folder.exists() else []


async def test_the_demo_export_is_removed_after_its_import(
    engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    user = await create_user(engine, "Demo listener")
    records, inserted, status = await import_demo(database_url, settings, user)
    assert status == "success" and records > 1000 and inserted > 1000
    rows = await fetch(engine, "SELECT count(*) AS n FROM raw.export_records WHERE user_id = :u", u=user)
    assert rows[0]["n"] == inserted
    assert _listing(settings.effective_upload_dir) == []  # neither the ZIP nor its demo/ folder is left


async def test_the_demo_export_is_removed_when_its_import_cannot_even_start(
    engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    user = await create_user(engine, "Demo listener")
    async with engine.begin() as connection:  # the user is gone before the import runs: no job can be made
        await connection.execute(text("DELETE FROM app.users WHERE id = :u"), {"u": user})
    with pytest.raises(IntegrityError):
        await import_demo(database_url, settings, user)
    assert _listing(settings.effective_upload_dir) == []
