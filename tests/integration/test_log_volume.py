"""The log table keeps events a person wants to read, and the console is not flooded: 100 MCP calls add only a
handful of rows; websocket connections opening and closing print nothing. Real server, real database sink."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import websockets.sync.client
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from core.dburl import libpq_url
from core.log import DatabaseLogSink, configure_logging
from core.settings import Settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import record_transform, standard_history
from tests.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@contextmanager
def service_logging(service: str, database_url: str | None) -> Iterator[tuple[io.StringIO, DatabaseLogSink | None]]:
    """The process logging a service configures (stdout captured), undone afterwards for the test session.

    Library loggers start as in a fresh service process: another test in the session may have run uvicorn with its
    own logging config, which stops "uvicorn" from propagating to the root logger."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    libraries = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "websockets")]
    saved_libraries = [(logger, logger.propagate, list(logger.handlers), logger.level) for logger in libraries]
    for logger in libraries:
        logger.propagate, logger.handlers, logger.level = True, [], logging.NOTSET
    console = io.StringIO()
    real_stdout, sys.stdout = sys.stdout, console
    try:
        sink = configure_logging(service, database_url=database_url)
    finally:
        sys.stdout = real_stdout
    try:
        yield console, sink
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        for logger, propagate, handlers, level in saved_libraries:
            logger.propagate, logger.handlers, logger.level = propagate, handlers, level


def _log_rows(database_url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute("SELECT level, message, context ->> 'logger' FROM app.logs ORDER BY id").fetchall()
    return [(str(level), str(message), str(logger)) for level, message, logger in rows]


async def test_a_hundred_mcp_calls_add_only_a_handful_of_log_rows(settings: Settings, database_url: str) -> None:
    standard_history(database_url, datetime.now(UTC))
    record_transform(database_url, datetime.now(UTC) - timedelta(minutes=5))
    with (
        service_logging("api", database_url) as (console, sink),
        live_server(create_app(settings, database_url)) as base,
    ):
        assert sink is not None
        sink.flush()
        before = len(_log_rows(database_url))
        transport = streamable_http_client(f"{base}/mcp", http_client=create_mcp_http_client(headers=ADMIN))
        async with Client(transport, mode="legacy", cache=None) as client:
            for index in range(100):
                answer = await client.call_tool("history_top_artists", {"days": 30 + index % 5, "limit": 3})
                assert answer.is_error is False, answer.content
        async with httpx.AsyncClient(timeout=30) as http:
            for index in range(20):
                response = await http.post(
                    f"{base}/mcp/call", json={"tool": "history.coverage", "args": {"days": 7 + index}}, headers=ADMIN
                )
                assert response.status_code == 200
        sink.flush()
        added = _log_rows(database_url)[before:]
    assert len(added) <= 5, added
    assert not [row for row in added if "Terminating session" in row[1]]
    assert console.getvalue().count("Terminating session") == 0


def test_websocket_connections_do_not_flood_the_console() -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", echo)])
    with service_logging("frontend", None) as (console, _), live_server(app) as base:
        for _ in range(20):
            with websockets.sync.client.connect(base.replace("http://", "ws://") + "/ws") as connection:
                connection.send("ping")
                assert connection.recv() == "ping"
        # A warning of the same library still shows: only per-connection chatter is dropped.
        logging.getLogger("uvicorn.error").warning("something a person should see")
    printed = console.getvalue()
    assert "WebSocket /ws" not in printed
    assert "connection open" not in printed and "connection closed" not in printed
    assert "something a person should see" in printed
