"""The dashboards' SQL explorer guard and connection string, without a database."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from core.marts import listening
from dashboards import charts, data


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select * from pg.marts.fct_plays limit 5;",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "SELECT local_weekday, count(*) FROM pg.marts.fct_plays GROUP BY ALL",
        "SELECT '; DROP TABLE x; --' AS harmless_text",
    ],
)
def test_explorer_accepts_one_select(sql: str) -> None:
    assert data.check_explorer_sql(sql) == sql.strip().rstrip(";").strip()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("", "write a SELECT"),
        ("DROP TABLE pg.marts.fct_plays", "only SELECT"),
        ("INSERT INTO pg.marts.dim_users VALUES (1)", "only SELECT"),
        ("DELETE FROM pg.marts.dim_users", "only SELECT"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("ATTACH 'x.db' AS other", "only SELECT"),
        ("COPY (SELECT 1) TO '/tmp/x.csv'", "only SELECT"),
        ("INSTALL httpfs", "only SELECT"),
        ("SET enable_external_access = true", "only SELECT"),
        ("SELECT * FROM postgres_query('pg', 'SELECT * FROM app.spotify_tokens')", "table functions"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table functions"),
        ("SELECT * FROM '/etc/passwd'", "only the pg.marts tables"),
        ("SELECT * FROM 'data.csv'", "only the pg.marts tables"),
        ("SELECT * FROM memory.main.t", "only the pg.marts tables"),
        ("SELECT getenv('DATABASE_URL')", "getenv"),
        ("SELECT \"POSTGRES_QUERY\"('pg', 'select 1')", "not allowed"),
        ("SELECT * FROM (SELECT * FROM read_parquet('x.parquet'))", "table functions"),
        ("SELEC 1", "cannot parse"),
    ],
)
def test_explorer_refuses(sql: str, reason: str) -> None:
    with pytest.raises(data.ExplorerError, match=reason):
        data.check_explorer_sql(sql)


def test_dsn_is_read_only_with_a_timeout() -> None:
    dsn = data.duckdb_postgres_dsn("postgresql+asyncpg://u:p%40ss@db:5432/spotify?sslmode=require&options=-c%20x%3D1")
    parts = urlsplit(dsn)
    assert parts.scheme == "postgresql" and parts.netloc == "u:p%40ss@db:5432" and parts.path == "/spotify"
    query = parse_qs(parts.query)
    assert query["sslmode"] == ["require"]
    assert query["options"] == [
        f"-c default_transaction_read_only=on -c statement_timeout={data.STATEMENT_TIMEOUT_MS} -c jit=off"
    ]


def test_database_url_prefers_the_dashboards_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner@db/x")
    monkeypatch.setenv("DASHBOARDS_DATABASE_URL", "postgresql://reader@db/x")
    assert data.database_url() == "postgresql://reader@db/x"
    monkeypatch.delenv("DASHBOARDS_DATABASE_URL")
    assert data.database_url() == "postgresql://owner@db/x"
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        data.database_url()


def test_heatmap_chart_fills_every_cell() -> None:
    found = listening.summarize_heatmap([(1, 0, 5), (7, 23, 9)])
    spec = charts.heatmap(found, "Europe/Berlin").to_dict()
    values = next(iter(spec["datasets"].values()))
    assert len(values) == 7 * 24
    assert sum(item["plays"] for item in values) == 14
    assert "Europe/Berlin" in spec["title"]["text"] if isinstance(spec["title"], dict) else spec["title"]
