"""Every query of the dashboards, over the dbt marts, through DuckDB attached to PostgreSQL.

The connection (`st.cache_resource`) loads DuckDB's postgres extension offline (the
`duckdb-extension-postgres-scanner` wheel) and ATTACHes the database READ_ONLY, limited to the `marts`
schema. The libpq session itself is read-only too (`default_transaction_read_only=on`) with a statement
timeout, and DuckDB's file access is switched off and locked, so nothing typed into the SQL explorer can
write to the database or touch the file system. For a hard guarantee point `DASHBOARDS_DATABASE_URL` at a
role that has only `USAGE` on schema `marts` and `SELECT` on its tables (it wins over DATABASE_URL).

The figures themselves are `core.marts` queries (the ones the tools answer with), run here by `run()` and cached
in `figures.py`. Apart from that pure package this module imports nothing of the other packages (import-linter):
it reads the URL from the environment.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import duckdb
import polars as pl
import streamlit as st

from core.marts.sql import Query, render

CACHE_TTL_SECONDS = 120
EXPLORER_ROW_LIMIT = 10_000
STATEMENT_TIMEOUT_MS = 30_000
MARTS = (
    "fct_plays",
    "dim_tracks",
    "dim_artists",
    "bridge_track_artists",
    "dim_users",
    "agg_daily_listening",
    "agg_daily_track_plays",
    "agg_hourly_listening",
    "fct_listening_heatmap",
    "fct_repeat_stats",
    "fct_coverage_daily",
    "fct_taste_clusters",
    "fct_taste_cluster_artists",
    "agg_track_totals",
)


class ExplorerError(ValueError):
    """The explorer refuses a statement (not one read-only SELECT over the marts)."""


def database_url() -> str:
    url = os.environ.get("DASHBOARDS_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not set: the dashboards need the database with the dbt marts")
    return url


def duckdb_postgres_dsn(url: str) -> str:
    """A libpq URI DuckDB can attach: driver suffix dropped, read-only session and a statement timeout."""
    parts = urlsplit(url)
    scheme = "postgresql"
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "options"]
    # jit=off: the figures are short aggregates whose cost estimates (hashed anti-joins over the per-day rows) cross
    # the JIT threshold, and compiling them took ~1 s where running them takes ~0.2 s (the transform does the same).
    options = f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS} -c jit=off"
    query.append(("options", options))
    query.append(("application_name", "spotify-mcp dashboards"))
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query, quote_via=quote), ""))


def _load_postgres_extension(connection: duckdb.DuckDBPyConnection) -> None:
    try:
        connection.execute("LOAD postgres_scanner")
    except duckdb.Error:
        import duckdb_extensions

        duckdb_extensions.import_extension("postgres_scanner")
        connection.execute("LOAD postgres_scanner")


def open_connection(url: str) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    _load_postgres_extension(connection)
    dsn = duckdb_postgres_dsn(url).replace("'", "''")
    connection.execute(f"ATTACH '{dsn}' AS pg (TYPE postgres, READ_ONLY, SCHEMA 'marts')")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    _warm_up(connection)
    return connection


def _warm_up(connection: duckdb.DuckDBPyConnection) -> None:
    """Pay the one-time costs (catalog load, the scanner's first Postgres connection) at process start, not
    on the first page someone opens."""
    tables = connection.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'pg' AND schema_name = 'marts'"
    ).fetchall()
    if ("dim_users",) in tables:
        connection.execute("SELECT count(*) FROM pg.marts.dim_users").fetchall()


@st.cache_resource
def _connection_for(url: str) -> tuple[duckdb.DuckDBPyConnection, threading.Lock]:
    return open_connection(url), threading.Lock()


def _connection() -> tuple[duckdb.DuckDBPyConnection, threading.Lock]:
    return _connection_for(database_url())


def query(sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    """Run on a cursor of the shared connection (cursors are safe across Streamlit's script threads)."""
    connection, _ = _connection()
    cursor = connection.cursor()
    try:
        return cursor.execute(sql, params or []).pl()
    finally:
        cursor.close()


def run(figure: Query) -> pl.DataFrame:
    """Run a figure's query (core.marts) inside PostgreSQL through DuckDB's `postgres_query` on the read-only
    attachment, so that only the small result crosses over, not every row of a big mart. Its parameters are
    written as typed literals (`core.marts.sql.render`)."""
    return query("SELECT * FROM postgres_query('pg', ?)", [render(figure)])


# ---------------------------------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------------------------------


@st.cache_data(ttl=30, show_spinner=False)
def available_marts() -> list[str]:
    """The marts that exist now. Asks PostgreSQL (cheap); reloads DuckDB's copy of the catalogue only when
    dbt has created or dropped tables since DuckDB last looked (a reload costs a few hundred ms)."""
    in_postgres = sorted(
        str(name)
        for name in run(
            Query("SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = 'marts'")
        )["table_name"].to_list()
    )
    known = "SELECT table_name FROM duckdb_tables() WHERE database_name = 'pg' AND schema_name = 'marts' ORDER BY 1"
    if sorted(str(name) for name in query(known)["table_name"].to_list()) != in_postgres:
        connection, lock = _connection()
        with lock:
            connection.execute("CALL pg_clear_cache()")
    return in_postgres


def missing_marts(*needed: str) -> list[str]:
    present = set(available_marts())
    return [name for name in needed if name not in present]


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def users() -> pl.DataFrame:
    if missing_marts("dim_users"):
        return pl.DataFrame(schema={"user_id": pl.String, "display_name": pl.String, "timezone": pl.String})
    return query(
        "SELECT CAST(user_id AS VARCHAR) AS user_id, coalesce(display_name, CAST(user_id AS VARCHAR)) AS display_name,"
        " timezone FROM pg.marts.dim_users ORDER BY display_name"
    )


# ---------------------------------------------------------------------------------------------------
# SQL explorer
# ---------------------------------------------------------------------------------------------------

_FORBIDDEN_FUNCTIONS = re.compile(r"^(postgres_|pg_|read_|glob$|query$|query_table$|getenv$|sniff_|parquet_|iceberg_)")


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def check_explorer_sql(sql: str) -> str:
    """Accept exactly one SELECT over the attached marts; refuse table functions, file access and writes.

    Returns the statement without a trailing semicolon. Raises ExplorerError with a readable reason.
    """
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise ExplorerError("write a SELECT query")
    checker = duckdb.connect()
    try:
        statements = checker.extract_statements(text)
        if len(statements) != 1:
            raise ExplorerError("run one statement at a time")
        if statements[0].type != duckdb.StatementType.SELECT:
            raise ExplorerError(f"only SELECT queries are allowed here (got {statements[0].type.name})")
        serialized = checker.execute("SELECT json_serialize_sql(?)", [text]).fetchone()
    except duckdb.Error as error:
        raise ExplorerError(f"cannot parse the query: {error}") from None
    finally:
        checker.close()
    tree = json.loads(serialized[0]) if serialized else {}
    if tree.get("error"):
        raise ExplorerError(f"cannot parse the query: {tree.get('error_message', 'unknown error')}")
    for node in _walk(tree):
        if node.get("type") == "TABLE_FUNCTION":
            raise ExplorerError("table functions are not allowed; query the pg.marts tables")
        if node.get("type") == "BASE_TABLE":
            catalog = str(node.get("catalog_name") or "")
            table = str(node.get("table_name") or "")
            if catalog not in ("", "pg") or any(char in table for char in "/\\.:"):
                raise ExplorerError(f"only the pg.marts tables can be queried (not {table!r})")
        name = node.get("function_name")
        if isinstance(name, str) and _FORBIDDEN_FUNCTIONS.match(name.lower()):
            raise ExplorerError(f"the function {name}() is not allowed in the explorer")
    return text


def run_explorer(sql: str, row_limit: int = EXPLORER_ROW_LIMIT) -> tuple[pl.DataFrame, bool]:
    """Run an analyst's SELECT (checked first) and return at most `row_limit` rows and whether it was cut."""
    statement = check_explorer_sql(sql)
    try:
        frame = query(f"SELECT * FROM ({statement}) AS explorer LIMIT {int(row_limit) + 1}")
    except duckdb.Error as error:
        raise ExplorerError(str(error).split("\n")[0]) from None
    return frame.head(row_limit), frame.height > row_limit


def to_parquet_bytes(frame: pl.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()
