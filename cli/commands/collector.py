"""`spotify-mcp collector`: the ingest worker (imports → initial sync → polling → enrichment → transform).

Runs until SIGTERM/SIGINT, then finishes (or rolls back) the work in hand and exits 0. `--once` runs a
single cycle. Several collectors may run against one database; each user is still polled once per interval.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import httpx
from sqlalchemy import text

from cli.database import database_url
from core.crypto import TokenCipher
from core.db import create_engine
from core.log import configure_logging
from core.settings import Settings, SettingsError, load_settings
from ingest.collector import Collector, new_worker_id
from ingest.imports.worker import process_pending_imports
from ingest.jobs import abandon_orphaned_jobs
from transform.process import abandon_orphaned_runs
from transform.worker import TransformWorker


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{value}` is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 3600 seconds")
    return seconds


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="run one cycle and exit")
    parser.add_argument(
        "--tick",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="how often to look for due work (default: a quarter of COLLECTOR_INTERVAL_SECONDS, at most 30)",
    )


async def run_collector(settings: Settings, url: str, *, once: bool, tick: float | None) -> None:
    engine = create_engine(url, application_name="spotify-mcp collector", pool_size=5, max_overflow=5)
    worker_id = new_worker_id()
    async with engine.connect() as connection:
        migrated = await connection.scalar(text("SELECT to_regclass('app.sync_checkpoints')"))
    if migrated is None:
        await engine.dispose()
        raise SettingsError("the database has no spotify-mcp tables yet: run `spotify-mcp migrate` first")
    # Runs a killed process left `running` (this one has a new worker id, so none of them is its own).
    await abandon_orphaned_jobs(engine)
    await asyncio.to_thread(abandon_orphaned_runs, url)

    async def import_step() -> int:
        return await process_pending_imports(engine, settings, worker_id=worker_id)

    stopping = asyncio.Event()

    # In a child process: dbt would hold this loop's GIL for seconds (heartbeats, imports, polls all wait), and
    # a stop request interrupts it there (recorded as interrupted) instead of waiting for it to finish. One child
    # for the collector's life: dbt stays imported and parsed between runs (transform.worker).
    transformer = TransformWorker(url)

    async def transform_step() -> None:
        status = await transformer.run(stop=stopping)
        if status == "interrupted" and stopping.is_set():
            return  # we stopped it; its job run says interrupted
        if status in ("error", "interrupted"):
            raise RuntimeError(f"transform {status}: see its job run and the transform logs")

    try:
        async with httpx.AsyncClient() as http:
            collector = Collector(
                engine,
                settings,
                TokenCipher(settings.encryption_keys),
                http,
                worker_id=worker_id,
                import_step=import_step,
                transform_step=transform_step if settings.transform_enabled else None,
                tick_seconds=tick,
            )
            loop = asyncio.get_running_loop()

            def stop() -> None:
                stopping.set()
                collector.request_stop()

            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop)
            try:
                await collector.run(once=once)
            finally:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
    finally:
        await transformer.close()
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    with database_url(settings) as url:
        sink = configure_logging("collector", level=settings.log_level, database_url=url)
        try:
            asyncio.run(run_collector(settings, url, once=args.once, tick=args.tick))
        finally:
            if sink is not None:
                sink.flush()
    return 0
