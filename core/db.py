"""Database engines and units of work.

Factories here never read settings (the polar pattern): callers pass a URL, so tests, the CLI and each
service wire their own. A unit of work is one transaction per request or task that commits once at
the end and rolls back on any error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.dburl import asyncpg_url

type SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(
    url: str,
    *,
    application_name: str = "spotify-mcp",
    pool_size: int = 5,
    max_overflow: int = 5,
    echo: bool = False,
) -> AsyncEngine:
    """An async engine on asyncpg. `application_name` shows in pg_stat_activity per service."""
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        echo=echo,
        connect_args={"server_settings": {"application_name": application_name}},
    )


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    # expire_on_commit=False: results stay readable after the single commit at the end.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One transaction: commit once when the block ends, roll back if it raises."""
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Core-level variant of `unit_of_work` for bulk SQL (COPY, set-based upserts)."""
    async with engine.begin() as connection:
        yield connection
