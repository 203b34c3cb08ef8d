from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.db import create_session_factory, unit_of_work


async def _count_users(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(tables.users))).scalar_one())


async def test_commits_once_at_the_end(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    async with unit_of_work(sessions) as session:
        await session.execute(insert(tables.users).values(display_name="a"))
        await session.execute(insert(tables.users).values(display_name="b"))
        assert await _count_users(engine) == 0  # nothing visible before the end of the unit
    assert await _count_users(engine) == 2


async def test_rolls_back_everything_on_error(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)

    async def fail_halfway() -> None:
        async with unit_of_work(sessions) as session:
            await session.execute(insert(tables.users).values(display_name="a"))
            raise RuntimeError("halfway")

    with pytest.raises(RuntimeError, match="halfway"):
        await fail_halfway()
    assert await _count_users(engine) == 0
