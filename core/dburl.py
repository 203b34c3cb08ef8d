"""One PostgreSQL URL, spelled for each driver that needs it.

Settings hold a single `DATABASE_URL`; SQLAlchemy wants `postgresql+asyncpg://`, dbt and DuckDB want
libpq fields, psycopg wants `postgresql://`. Converting here keeps every other module driver-agnostic.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url


@dataclass(frozen=True, slots=True)
class ConnectionFields:
    host: str
    port: int
    user: str
    password: str
    dbname: str


def _parse(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql")


def asyncpg_url(url: str) -> str:
    """`postgresql+asyncpg://…` for SQLAlchemy's async engine."""
    return _parse(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def psycopg_url(url: str) -> str:
    """`postgresql+psycopg://…` for SQLAlchemy's sync engine (Alembic, threads)."""
    return _parse(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """Plain `postgresql://…` understood by libpq, psycopg and asyncpg itself."""
    return _parse(url).render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """The same server, another database."""
    return _parse(url).set(database=database).render_as_string(hide_password=False)


def connection_fields(url: str) -> ConnectionFields:
    """Host/port/user/password/dbname (dbt profiles and DuckDB's ATTACH want these)."""
    parsed = _parse(url)
    # A unix socket (the embedded server) is a directory in the query: `…@/db?host=/path/pgdata&port=5433`.
    host = parsed.host or str(parsed.query.get("host") or "127.0.0.1")
    query_port = str(parsed.query.get("port") or "")
    return ConnectionFields(
        host=host,
        port=parsed.port or (int(query_port) if query_port.isdigit() else 5432),
        user=parsed.username or "postgres",
        password=parsed.password or "",
        dbname=parsed.database or "postgres",
    )


def redacted(url: str) -> str:
    """For messages: the URL with its password masked."""
    return _parse(url).render_as_string(hide_password=True)
