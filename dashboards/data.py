"""Every query of the dashboards, over the dbt marts, through DuckDB attached to PostgreSQL.

The connection (`st.cache_resource`) loads DuckDB's postgres extension offline (the
`duckdb-extension-postgres-scanner` wheel) and ATTACHes the database READ_ONLY, limited to the `marts`
schema. The libpq session itself is read-only too (`default_transaction_read_only=on`) with a statement
timeout, and DuckDB's file access is switched off and locked, so nothing typed into the SQL explorer can
write to the database or touch the file system. For a hard guarantee point `DASHBOARDS_DATABASE_URL` at a
role that has only `USAGE` on schema `marts` and `SELECT` on its tables (it wins over DATABASE_URL).

Results are polars frames cached with `st.cache_data(ttl=…)`. This module imports nothing of the other
packages (import-linter): it reads the URL from the environment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import uuid
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import duckdb
import polars as pl
import streamlit as st

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
    options = f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS}"
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


def _literal(value: object) -> str:
    """A PostgreSQL literal for the few value types our own queries pass (never analyst input)."""
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"unsupported literal {type(value).__name__}")
    return str(int(value))


def pushdown(sql: str, **params: object) -> pl.DataFrame:
    """Run an aggregate inside PostgreSQL (through DuckDB's `postgres_query` on the read-only attachment)
    so that only the small result crosses over, not every row of a big mart. `{name}` placeholders take
    typed values only (uuid.UUID, date, int), rendered as literals."""
    rendered = sql.format(**{name: _literal(value) for name, value in params.items()})
    return query("SELECT * FROM postgres_query('pg', ?)", [rendered])


# ---------------------------------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------------------------------


@st.cache_data(ttl=30)
def available_marts() -> list[str]:
    """The marts that exist now. Asks PostgreSQL (cheap); reloads DuckDB's copy of the catalogue only when
    dbt has created or dropped tables since DuckDB last looked (a reload costs a few hundred ms)."""
    in_postgres = sorted(
        str(name)
        for name in pushdown(
            "SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = 'marts'"
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


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def users() -> pl.DataFrame:
    if missing_marts("dim_users"):
        return pl.DataFrame(schema={"user_id": pl.String, "display_name": pl.String, "timezone": pl.String})
    return query(
        "SELECT CAST(user_id AS VARCHAR) AS user_id, coalesce(display_name, CAST(user_id AS VARCHAR)) AS display_name,"
        " timezone FROM pg.marts.dim_users ORDER BY display_name"
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def date_bounds(user_id: str) -> tuple[dt.date, dt.date] | None:
    frame = query(
        "SELECT min(local_date) AS first, max(local_date) AS last FROM pg.marts.agg_daily_listening WHERE user_id = ?",
        [uuid.UUID(user_id)],
    )
    first, last = frame.row(0)
    if first is None:
        return None
    return first, last


# ---------------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------------


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def daily_listening(user_id: str, start: dt.date, end: dt.date, content_kind: str = "track") -> pl.DataFrame:
    return query(
        """
        SELECT local_date, plays, listens, ms_played / 3600000.0 AS hours, unique_tracks, unique_artists
        FROM pg.marts.agg_daily_listening
        WHERE user_id = ? AND content_kind = ? AND local_date BETWEEN ? AND ?
        ORDER BY local_date
        """,
        [uuid.UUID(user_id), content_kind, start, end],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def window_totals(user_id: str, start: dt.date, end: dt.date) -> dict[str, float]:
    frame = pushdown(
        """
        SELECT coalesce(sum(plays), 0)::float8 AS plays, coalesce(sum(ms_played), 0) / 3600000.0 AS hours,
               count(DISTINCT track_id)::float8 AS unique_tracks,
               count(DISTINCT primary_artist_id)::float8 AS unique_artists
        FROM marts.agg_daily_track_plays
        WHERE user_id = {user} AND local_date BETWEEN {start} AND {end}
        """,
        user=uuid.UUID(user_id),
        start=start,
        end=end,
    )
    plays, hours, tracks, artists = frame.row(0)
    return {
        "plays": float(plays),
        "hours": float(hours),
        "unique_tracks": float(tracks),
        "unique_artists": float(artists),
    }


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def top_tracks(user_id: str, start: dt.date, end: dt.date, limit: int = 25) -> pl.DataFrame:
    return pushdown(
        """
        WITH counts AS (
            SELECT track_id, sum(plays) AS plays, sum(ms_played) / 60000.0 AS minutes
            FROM marts.agg_daily_track_plays
            WHERE user_id = {user} AND local_date BETWEEN {start} AND {end}
            GROUP BY track_id
            ORDER BY plays DESC, minutes DESC
            LIMIT {limit}
        )
        SELECT coalesce(t.name, c.track_id) AS track, coalesce(t.primary_artist_name, '?') AS artist,
               c.plays::bigint AS plays, round(c.minutes, 1)::float8 AS minutes
        FROM counts c LEFT JOIN marts.dim_tracks t ON t.track_id = c.track_id
        ORDER BY plays DESC, minutes DESC
        """,
        user=uuid.UUID(user_id),
        start=start,
        end=end,
        limit=int(limit),
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def top_artists(user_id: str, start: dt.date, end: dt.date, limit: int = 25) -> pl.DataFrame:
    return pushdown(
        """
        WITH counts AS (
            SELECT primary_artist_id, sum(plays) AS plays, sum(ms_played) / 60000.0 AS minutes,
                   count(DISTINCT track_id) AS tracks
            FROM marts.agg_daily_track_plays
            WHERE user_id = {user} AND local_date BETWEEN {start} AND {end} AND primary_artist_id IS NOT NULL
            GROUP BY primary_artist_id
            ORDER BY plays DESC, minutes DESC
            LIMIT {limit}
        )
        SELECT coalesce(a.name, c.primary_artist_id) AS artist, c.plays::bigint AS plays,
               round(c.minutes, 1)::float8 AS minutes, c.tracks::bigint AS tracks
        FROM counts c LEFT JOIN marts.dim_artists a ON a.artist_id = c.primary_artist_id
        ORDER BY plays DESC, minutes DESC
        """,
        user=uuid.UUID(user_id),
        start=start,
        end=end,
        limit=int(limit),
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def heatmap(user_id: str, start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
    """Plays by ISO weekday (1 = Monday) × hour, in the user's time zone (the marts store local time)."""
    if start is None or end is None:
        return query(
            """
            SELECT CAST(local_weekday AS INTEGER) AS weekday, CAST(local_hour AS INTEGER) AS hour,
                   CAST(plays AS BIGINT) AS plays, ms_played / 3600000.0 AS hours
            FROM pg.marts.fct_listening_heatmap WHERE user_id = ?
            """,
            [uuid.UUID(user_id)],
        )
    return query(
        """
        SELECT CAST(local_weekday AS INTEGER) AS weekday, CAST(local_hour AS INTEGER) AS hour,
               CAST(sum(plays) AS BIGINT) AS plays, sum(ms_played) / 3600000.0 AS hours
        FROM pg.marts.agg_hourly_listening
        WHERE user_id = ? AND local_date BETWEEN ? AND ?
        GROUP BY 1, 2
        """,
        [uuid.UUID(user_id), start, end],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def taste_clusters(user_id: str) -> pl.DataFrame:
    return query(
        """
        SELECT window_name, CAST(cluster_id AS INTEGER) AS cluster_id, label, share_of_plays,
               CAST(plays AS BIGINT) AS plays, CAST(top_artists AS VARCHAR) AS top_artists,
               CAST(top_tracks AS VARCHAR) AS top_tracks, CAST(distinguishing AS VARCHAR) AS distinguishing,
               feature_set, CAST(k AS INTEGER) AS k, quality_score, computed_at
        FROM pg.marts.fct_taste_clusters WHERE user_id = ?
        ORDER BY window_name, share_of_plays DESC
        """,
        [uuid.UUID(user_id)],
    )


def names_from_json(value: str | None, key: str = "name", limit: int = 5) -> str:
    if not value:
        return ""
    try:
        items = json.loads(value)
    except ValueError:
        return ""
    return ", ".join(str(item.get(key, "?")) for item in items[:limit] if isinstance(item, dict))


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def repeat_stats(user_id: str) -> dict[str, float] | None:
    frame = query(
        """
        SELECT plays, unique_tracks, repeat_rate, top10_share, tracks_played_once, max_plays_single_track
        FROM pg.marts.fct_repeat_stats WHERE user_id = ?
        """,
        [uuid.UUID(user_id)],
    )
    if frame.height == 0:
        return None
    return {key: float(value) if value is not None else 0.0 for key, value in frame.row(0, named=True).items()}


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def plays_per_track_distribution(user_id: str) -> pl.DataFrame:
    return pushdown(
        """
        WITH per_track AS (
            SELECT track_id, sum(plays) AS plays FROM marts.agg_daily_track_plays WHERE user_id = {user}
            GROUP BY track_id
        )
        SELECT CASE WHEN plays <= 1 THEN '1' WHEN plays <= 2 THEN '2' WHEN plays <= 5 THEN '3–5'
                    WHEN plays <= 10 THEN '6–10' WHEN plays <= 50 THEN '11–50' ELSE '50+' END AS bucket,
               min(plays)::bigint AS sort_key, count(*)::bigint AS tracks
        FROM per_track WHERE plays > 0 GROUP BY 1 ORDER BY 2
        """,
        user=uuid.UUID(user_id),
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def new_artists_per_month(user_id: str) -> pl.DataFrame:
    return pushdown(
        """
        WITH first_heard AS (
            SELECT primary_artist_id, min(local_date) AS first_day
            FROM marts.agg_daily_track_plays
            WHERE user_id = {user} AND primary_artist_id IS NOT NULL AND plays > 0
            GROUP BY primary_artist_id
        )
        SELECT date_trunc('month', first_day)::date AS month, count(*)::bigint AS new_artists
        FROM first_heard GROUP BY 1 ORDER BY 1
        """,
        user=uuid.UUID(user_id),
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def coverage(user_id: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    return query(
        """
        SELECT local_date, string_agg(source, '+' ORDER BY source) AS sources, CAST(sum(listens) AS BIGINT) AS listens
        FROM pg.marts.fct_coverage_daily
        WHERE user_id = ? AND local_date BETWEEN ? AND ?
        GROUP BY local_date ORDER BY local_date
        """,
        [uuid.UUID(user_id), start, end],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS)
def coverage_summary(user_id: str) -> pl.DataFrame:
    return query(
        """
        SELECT source, count(*) AS days, min(local_date) AS first_day, max(local_date) AS last_day,
               CAST(sum(listens) AS BIGINT) AS listens
        FROM pg.marts.fct_coverage_daily WHERE user_id = ? GROUP BY source ORDER BY source
        """,
        [uuid.UUID(user_id)],
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
