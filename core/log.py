"""Structured logging for every process: JSON lines on stdout, the same events into `app.logs`.

- `configure_logging(service, ...)` sets up the root logger once per process.
- `log_context(...)` binds request_id / user_id / job_run_id / tool_name to everything logged inside it.
- `redact()` masks tokens, secrets, authorization headers, e-mail and IP addresses in messages and context
  before anything leaves the process (stdout or database).
- `DatabaseLogSink` batches records from a queue and inserts them on its own thread with its own
  connection, so logging never waits on, or joins, a caller's transaction.
- What is kept: `app.logs` holds the events a person wants to read — our own code's at the configured level, and
  other libraries' warnings and errors (their INFO lines are per-request or per-connection chatter: the MCP SDK's
  "Terminating session: None" on every request was 98 % of the table). The console shows our events and the
  libraries' lifecycle lines (server started, shutting down), but not per-connection lines (websocket opened,
  accepted, closed).
- `purge_logs()` applies the retention of the spec.
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
import logging
import queue
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from core import tables
from core.dburl import libpq_url

CONTEXT_KEYS: Final = ("request_id", "user_id", "job_run_id", "tool_name", "import_job_id")
REDACTED: Final = "[redacted]"

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context", default={})  # noqa: B039

# Keys whose values are secrets wherever they appear in a context mapping.
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|authorization|api[_-]?key|cookie|refresh|access[_-]?token|code_verifier|ip_addr|"
    r"user_agent|email)",
    re.IGNORECASE,
)
_PATTERNS: Final = (
    # Authorization headers and bearer/basic credentials.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/=]{8,}"), r"\1 " + REDACTED),
    # key=value / "key": "value" pairs for secret-looking keys.
    (
        re.compile(
            r"(?i)\b(refresh_token|access_token|client_secret|password|token|secret|code_verifier|api_key)"
            r"(\"?\s*[:=]\s*\"?)([^\s\"',&}]+)"
        ),
        r"\1\2" + REDACTED,
    ),
    # Fernet ciphertexts and our own API tokens.
    (re.compile(r"\bgAAAAA[A-Za-z0-9\-_=]{20,}"), REDACTED),
    (re.compile(r"\bsmcp_[A-Za-z0-9\-_]{16,}"), REDACTED),
    # E-mail addresses.
    (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"), "[email]"),
    # IPv4 (not loopback: 127.x addresses are our own servers and useful in messages).
    (re.compile(r"\b(?!127\.)(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"), "[ip]"),
)
# IPv6 candidates are validated by `ipaddress`, so clock times such as 12:30:45 are left alone.
_IPV6_CANDIDATE: Final = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


def _mask_ipv6(match: re.Match[str]) -> str:
    try:
        address = ipaddress.IPv6Address(match.group(0))
    except ValueError:
        return match.group(0)
    return match.group(0) if address.is_loopback else "[ip]"


def redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _IPV6_CANDIDATE.sub(_mask_ipv6, text)


def redact(value: Any) -> Any:
    """Deep-redact strings, and whole values under secret-looking keys."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            str(key): (REDACTED if _SECRET_KEY.search(str(key)) and item is not None else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Bind context (request_id, user_id, job_run_id, tool_name, …) to everything logged inside."""
    merged = {**_context.get(), **{key: str(value) for key, value in values.items() if value is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get())


# Top-level packages of this project (and scripts run as __main__): their records are ours.
_OWN_PACKAGES: Final = frozenset(
    {"core", "ingest", "transform", "serve", "dashboards", "cli", "migrations", "__main__"}
)


def _is_own_record(record: logging.LogRecord) -> bool:
    return record.name.partition(".")[0] in _OWN_PACKAGES


def _per_connection(record: logging.LogRecord) -> bool:
    """uvicorn's websocket access lines and the websockets library's open/close lines (logged on uvicorn.error by
    uvicorn's server side, on websockets.* by our proxy's client side)."""
    message = record.msg if isinstance(record.msg, str) else ""
    return message in ("connection open", "connection closed") or '"WebSocket %s"' in message


class _ForPeople(logging.Filter):
    """Console: drop other libraries' per-connection INFO chatter; keep everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or _is_own_record(record) or not _per_connection(record)


class _WorthKeeping(logging.Filter):
    """The log table: our own records, and other libraries' warnings and errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or _is_own_record(record)


class _ContextFilter(logging.Filter):
    """Copy the bound context onto each record (as `ctx`) at the moment it is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        extra = getattr(record, "ctx", None)
        bound = _context.get()
        record.ctx = {**bound, **extra} if isinstance(extra, dict) else dict(bound)
        return True


def _level_name(record: logging.LogRecord) -> str:
    name = record.levelname.lower()
    return "error" if name == "critical" else name


def _record_context(record: logging.LogRecord) -> dict[str, Any]:
    context: dict[str, Any] = dict(getattr(record, "ctx", {}) or {})
    context["logger"] = record.name
    if record.exc_info and record.exc_info[0] is not None:
        context["exception"] = logging.Formatter().formatException(record.exc_info)
    return redact(context)  # type: ignore[no-any-return]


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "service": self.service,
            "level": _level_name(record),
            "message": redact_text(record.getMessage()),
            **_record_context(record),
        }
        return json.dumps(payload, default=str)


class DatabaseLogSink(logging.Handler):
    """Queue records; a daemon thread inserts them into app.logs in batches.

    If the database is unreachable the batch is dropped after one retry and a line goes to stderr:
    logging must never take a service down.
    """

    def __init__(self, database_url: str, service: str, *, flush_interval: float = 0.5, batch_size: int = 200) -> None:
        super().__init__()
        self.service = service
        self._url = libpq_url(database_url)
        self._queue: queue.Queue[tuple[str, str, datetime, str, dict[str, Any]] | None] = queue.Queue(maxsize=50_000)
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._flushed = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name=f"log-sink-{service}", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("psycopg", "sqlalchemy.engine")):
            return  # never log our own log inserts
        row = (
            self.service,
            _level_name(record),
            datetime.fromtimestamp(record.created, UTC),
            redact_text(record.getMessage()),
            _record_context(record),
        )
        with self._flushed:
            self._pending += 1
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            with self._flushed:
                self._pending -= 1

    def flush(self, timeout: float = 5.0) -> None:
        """Block until everything queued so far is written (tests, shutdown)."""
        with self._flushed:
            self._flushed.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=5)
        super().close()

    def _run(self) -> None:
        connection: psycopg.Connection[Any] | None = None
        stop = False
        while not stop:
            batch: list[tuple[str, str, datetime, str, dict[str, Any]]] = []
            try:
                item = self._queue.get(timeout=self._flush_interval)
            except queue.Empty:
                continue
            if item is None:
                break
            batch.append(item)
            while len(batch) < self._batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            connection = self._write(connection, batch)
            with self._flushed:
                self._pending -= len(batch)
                self._flushed.notify_all()
        if connection is not None:
            connection.close()

    def _write(
        self, connection: psycopg.Connection[Any] | None, batch: list[tuple[str, str, datetime, str, dict[str, Any]]]
    ) -> psycopg.Connection[Any] | None:
        rows = [(service, level, at, message, Jsonb(context)) for service, level, at, message, context in batch]
        for attempt in range(2):
            try:
                if connection is None or connection.closed:
                    connection = psycopg.connect(
                        self._url, autocommit=True, application_name=f"log-sink-{self.service}"
                    )
                with connection.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO app.logs (service, level, timestamp, message, context) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        rows,
                    )
                return connection
            except psycopg.Error as error:
                if connection is not None:
                    connection.close()
                connection = None
                if attempt == 1:
                    print(f"log sink: dropped {len(rows)} log rows: {error}", file=sys.stderr)
        return connection


_configured: dict[str, logging.Handler] = {}


def configure_logging(service: str, *, level: str = "INFO", database_url: str | None = None) -> DatabaseLogSink | None:
    """JSON to stdout for `service`, plus the DB sink when a database URL is given. Idempotent."""
    root = logging.getLogger()
    # Own the root logger outright: some libraries call logging.basicConfig() at import time, which
    # would print every event a second time in another format.
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler in _configured.values():
            handler.close()
    _configured.clear()
    root.setLevel(level)
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(JsonFormatter(service))
    stream.addFilter(_ForPeople())
    stream.addFilter(_ContextFilter())
    root.addHandler(stream)
    _configured["stream"] = stream
    sink: DatabaseLogSink | None = None
    if database_url is not None:
        sink = DatabaseLogSink(database_url, service)
        sink.addFilter(_WorthKeeping())
        sink.addFilter(_ContextFilter())
        root.addHandler(sink)
        _configured["sink"] = sink
    # Libraries that are chatty at INFO (the MCP SDK logs a line per request in stateless mode).
    for noisy in ("httpx", "httpcore", "asyncio", "watchfiles", "uvicorn.access", "mcp", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return sink


async def purge_logs(connection: AsyncConnection, retention_days: int, *, now: datetime | None = None) -> int:
    """Retention: delete app.logs rows older than `retention_days`. Returns how many were deleted."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    result = await connection.execute(delete(tables.logs).where(tables.logs.c.timestamp < cutoff))
    return result.rowcount
