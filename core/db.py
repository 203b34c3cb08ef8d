"""Database engines, units of work, and one page of a filtered listing.

Factories here never read settings (the polar pattern): callers pass a URL, so tests, the CLI and each
service wire their own. A unit of work is one transaction per request or task that commits once at
the end and rolls back on any error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Row, Select, and_, func, literal, select
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


async def page_of(
    session: AsyncSession,
    query: Select[Any],
    counted: FromClause,
    conditions: Iterable[ColumnElement[bool] | None],
    *,
    order_by: Sequence[ColumnElement[Any]],
    limit: int,
    offset: int,
) -> tuple[int, Sequence[Row[Any]]]:
    """A listing's page: how many rows of `counted` match every condition given (None: that filter is not
    set), and `query` over them in `order_by` order, `limit` rows from `offset`."""
    present = [condition for condition in conditions if condition is not None]
    where = and_(*present) if present else literal(True)
    total: int = (await session.execute(select(func.count()).select_from(counted).where(where))).scalar_one()
    rows = await session.execute(query.where(where).order_by(*order_by).limit(limit).offset(offset))
    return total, rows.all()
