"""Alembic environment: owns the `app` and `raw` schemas only.

dbt owns `staging`, `intermediate`, `marts` and the cluster step owns `ml`; autogenerate and
`alembic check` must never see their objects, so `include_name` filters schemas and `include_object`
drops anything outside ours.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from core.dburl import asyncpg_url
from core.tables import OWNED_SCHEMAS, metadata

config = context.config
target_metadata = metadata
VERSION_TABLE_SCHEMA = "app"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    if type_ == "schema":
        return name in OWNED_SCHEMAS
    return True


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    schema = getattr(obj, "schema", None)
    if type_ == "table":
        return schema in OWNED_SCHEMAS and name != "alembic_version"
    return True


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        include_schemas=True,
        include_name=include_name,
        include_object=include_object,
        version_table_schema=VERSION_TABLE_SCHEMA,
        compare_type=True,
        compare_server_default=True,
        literal_binds=connection is None,
    )


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url") or config.attributes.get("database_url")
    if not url:
        raise RuntimeError("no database URL: run migrations through `spotify-mcp migrate`")
    return str(url)


def run_migrations_offline() -> None:
    _configure(url=asyncpg_url(_database_url()))
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    # The version table lives in `app`, which must exist before Alembic looks for it.
    for schema in OWNED_SCHEMAS:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    connection.commit()
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = async_engine_from_config(
        {"sqlalchemy.url": asyncpg_url(_database_url())}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
    else:
        asyncio.run(run_migrations_online())
