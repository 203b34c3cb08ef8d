"""No IP address, user agent or user name from an export reaches any table or any log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core import log as core_log
from core.settings import Settings
from ingest.imports.worker import process_pending_imports
from tests.fixtures import exports
from tests.fixtures.exports import build_zip, extended
from tests.fixtures.exports.helpers import create_user, fetch, job_row, queue_zip, with_overrides

SECRETS = (
    exports.SECRET_IP,
    exports.SECRET_IP_DECRYPTED,
    exports.SECRET_IP6,
    exports.SECRET_USER_AGENT,
    exports.SECRET_USERNAME,
)


@pytest.fixture
def logging_to_database(database_url: str) -> Iterator[tuple[core_log.DatabaseLogSink, io.StringIO]]:
    """The collector's logging (JSON lines on stdout + the DB sink), its stdout captured in a buffer."""
    sink = core_log.configure_logging("collector", level="INFO", database_url=database_url)
    assert sink is not None
    stdout = io.StringIO()
    stream = core_log._configured["stream"]
    assert isinstance(stream, logging.StreamHandler)
    stream.setStream(stdout)
    try:
        yield sink, stdout
    finally:
        root = logging.getLogger()
        for handler in list(core_log._configured.values()):
            root.removeHandler(handler)
            handler.close()
        core_log._configured.clear()


async def _everything_stored(engine: AsyncEngine) -> str:
    """Every row of every table in the app and raw schemas, as text."""
    async with engine.connect() as connection:
        names = (
            await connection.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_schema IN ('app', 'raw') AND table_type = 'BASE TABLE'"
                )
            )
        ).all()
        dump: list[str] = []
        for schema, table in names:
            rows = await connection.execute(text(f'SELECT t::text FROM "{schema}"."{table}" t'))
            dump.extend(row[0] for row in rows)
    return "\n".join(dump)


async def test_no_ip_user_agent_or_username_anywhere(
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
    logging_to_database: tuple[core_log.DatabaseLogSink, io.StringIO],
) -> None:
    sink, stdout_buffer = logging_to_database
    everything_on = with_overrides(settings, IMPORT_STORE_OPTIONAL_FIELDS="true")
    user = await create_user(engine)
    ipv6_record = extended("2023-05-05T05:05:05Z", 50_000)
    ipv6_record["ip_addr"] = exports.SECRET_IP6
    good = [
        exports.extended_export(tmp_path / "extended.zip"),
        exports.endsong_export(tmp_path / "endsong.zip"),  # ip_addr_decrypted
        build_zip(tmp_path / "v6.zip", {"Streaming_History_Audio_2023.json": [ipv6_record]}),
    ]
    for path in good:
        await queue_zip(engine, user, path)
    # A rejected record whose bad value is an IP address: the error message must not carry it either.
    leaky = extended("2023-01-01T00:00:00Z", 1)
    leaky["ms_played"] = exports.SECRET_IP
    bad_job = await queue_zip(
        engine, user, build_zip(tmp_path / "bad.zip", {"Streaming_History_Audio_2023.json": [leaky]})
    )

    assert await process_pending_imports(engine, everything_on, worker_id="w") > 0
    sink.flush()

    bad = await job_row(engine, bad_job)
    assert bad["status"] == "error" and "[ip]" in bad["error_message"]
    stored = await _everything_stored(engine)
    logs = await fetch(engine, "SELECT message, context::text AS context FROM app.logs")
    assert any("import job" in row["message"] for row in logs)  # the sink really wrote the import's events
    assert "reason_start" in stored and "Pixel 7" in stored  # optional fields were stored (flag on) ...
    stdout = stdout_buffer.getvalue()
    assert "import job" in stdout
    for secret in SECRETS:  # ... but never the sensitive ones
        assert secret not in stored, secret
        assert secret not in stdout, secret
