"""Removing users' rows from everything the transform builds (dbt's schemas and the cluster step's `ml`).

Which tables hold rows of a user is read from the catalogue at the moment of the purge — every table (not view)
in a warehouse schema with a `user_id` column — so a mart added later is purged without anyone remembering to
list it. Views hold no rows and are left alone; tables without `user_id` (tracks, artists) are shared by all users.

Two callers: deleting a user (serve.user_deletion, inside the request's transaction, so that the user's app and
raw rows and their warehouse rows go together or not at all), and the transform runner, which empties the
warehouse of a user whose data fails the build before it builds everyone else without them
(transform.isolation), and of users deleted while it ran (their rows may have been written after the deletion).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.tables import DBT_SCHEMAS

# The schemas the transform writes (staging, intermediate, marts, ml): Alembic never touches them.
WAREHOUSE_SCHEMAS: Final = DBT_SCHEMAS

_TABLES_WITH_USER_ID: Final = """
select namespace.nspname, class.relname
from pg_catalog.pg_attribute as attribute
join pg_catalog.pg_class as class on class.oid = attribute.attrelid
join pg_catalog.pg_namespace as namespace on namespace.oid = class.relnamespace
where attribute.attname = 'user_id'
    and not attribute.attisdropped
    and class.relkind in ('r', 'p')
    and namespace.nspname = any(%(schemas)s)
order by 1, 2
"""


def _quoted(name: str) -> str:
    # Names come from the catalogue, never from a request; quoted all the same.
    return '"' + name.replace('"', '""') + '"'


def warehouse_tables(connection: psycopg.Connection[Any], *, with_column: str | None = None) -> list[tuple[str, str]]:
    """(schema, table) of every warehouse table with a `user_id` column (and `with_column`, when given)."""
    rows = connection.execute(_TABLES_WITH_USER_ID, {"schemas": list(WAREHOUSE_SCHEMAS)}).fetchall()
    tables = [(str(schema), str(table)) for schema, table in rows]
    if with_column is None:
        return tables
    having = {
        (str(schema), str(table))
        for schema, table in connection.execute(
            "select table_schema, table_name from information_schema.columns where column_name = %s "
            "and table_schema = any(%s)",
            (with_column, list(WAREHOUSE_SCHEMAS)),
        ).fetchall()
    }
    return [table for table in tables if table in having]


def purge_written_since(
    connection: psycopg.Connection[Any], user_ids: Iterable[uuid.UUID | str], since: datetime
) -> set[str]:
    """Delete the rows of `user_ids` that a build wrote at or after `since` (their `transformed_at`): what a failed
    build left of theirs. Returns the users who had such rows: the rest of their warehouse is what the last good
    build made, minus what the failed one replaced, so they need building again whole."""
    ids = [uuid.UUID(str(user_id)) for user_id in sorted({str(user_id) for user_id in user_ids})]
    touched: set[str] = set()
    if not ids:
        return touched
    for schema, table in warehouse_tables(connection, with_column="transformed_at"):
        statement = sql.SQL(
            "with deleted as (delete from {}.{} where user_id = any(%(user_ids)s) and transformed_at >= %(since)s "
            "returning user_id) select distinct user_id::text from deleted"
        ).format(sql.Identifier(schema), sql.Identifier(table))
        touched.update(str(row[0]) for row in connection.execute(statement, {"user_ids": ids, "since": since}))
    return touched


def purge_warehouse(connection: psycopg.Connection[Any], user_ids: Iterable[uuid.UUID | str]) -> dict[str, int]:
    """Delete every warehouse row of `user_ids` (in the connection's current transaction, or one statement at a
    time in autocommit). Returns rows deleted per `schema.table` (tables with none left out)."""
    ids = sorted({str(user_id) for user_id in user_ids})
    if not ids:
        return {}
    deleted: dict[str, int] = {}
    for schema, table in warehouse_tables(connection):
        statement = sql.SQL("delete from {}.{} where user_id = any(%(user_ids)s)").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        count = connection.execute(statement, {"user_ids": [uuid.UUID(user_id) for user_id in ids]}).rowcount
        if count:
            deleted[f"{schema}.{table}"] = count
    return deleted


async def purge_warehouse_async(
    connection: AsyncSession | AsyncConnection, user_ids: Sequence[uuid.UUID]
) -> dict[str, int]:
    """`purge_warehouse` on an SQLAlchemy session or connection (the API's unit of work)."""
    if not user_ids:
        return {}
    tables = (
        await connection.execute(
            text(_TABLES_WITH_USER_ID.replace("%(schemas)s", ":schemas")), {"schemas": list(WAREHOUSE_SCHEMAS)}
        )
    ).all()
    deleted: dict[str, int] = {}
    for schema, table in tables:
        statement = text(f"delete from {_quoted(str(schema))}.{_quoted(str(table))} where user_id = any(:user_ids)")
        result = await connection.execute(statement, {"user_ids": list(user_ids)})
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            deleted[f"{schema}.{table}"] = count
    return deleted
