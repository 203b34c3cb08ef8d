from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from core.dburl import libpq_url
from core.log import DatabaseLogSink, _ContextFilter, log_context, purge_logs


def test_sink_writes_structured_redacted_rows(database_url: str) -> None:
    sink = DatabaseLogSink(database_url, "collector", flush_interval=0.05)
    sink.addFilter(_ContextFilter())
    logger = logging.getLogger("test.sink")
    logger.addHandler(sink)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        with log_context(user_id="u-9", job_run_id=12, request_id="r-1", tool_name="history.top_artists"):
            logger.info("refreshed with refresh_token=AQDsecretvalue for bob@example.com at 198.51.100.7")
        logger.error("boom", extra={"ctx": {"authorization": "Bearer abcdefghijkl"}})
        sink.flush()
    finally:
        logger.removeHandler(sink)
        sink.close()
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute("SELECT service, level, message, context FROM app.logs ORDER BY id").fetchall()
    assert len(rows) == 2
    (service, level, message, context), (_, level2, _, context2) = rows
    assert (service, level, level2) == ("collector", "info", "error")
    assert "AQDsecretvalue" not in message and "bob@example.com" not in message and "198.51.100.7" not in message
    assert context["user_id"] == "u-9" and context["job_run_id"] == "12" and context["request_id"] == "r-1"
    assert context["tool_name"] == "history.top_artists"
    assert context2["authorization"] == "[redacted]"


def test_sink_survives_unreachable_database(capsys: object) -> None:
    sink = DatabaseLogSink("postgresql://nobody@127.0.0.1:1/none", "api", flush_interval=0.05)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    sink.emit(record)
    sink.flush(timeout=10)
    sink.close()  # no exception: logging never takes a service down


async def test_retention_purges_only_old_rows(engine: AsyncEngine, database_url: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        for age in (0, 5, 29, 31, 400):
            connection.execute(
                "INSERT INTO app.logs (service, level, timestamp, message) VALUES ('api', 'info', %s, %s)",
                (now - timedelta(days=age), f"age {age}"),
            )
    async with engine.begin() as connection:
        deleted = await purge_logs(connection, 30, now=now)
    assert deleted == 2
    with psycopg.connect(libpq_url(database_url)) as connection:
        left = [row[0] for row in connection.execute("SELECT message FROM app.logs ORDER BY timestamp DESC")]
    assert left == ["age 0", "age 5", "age 29"]
