from __future__ import annotations

import argparse
import asyncio

from cli.database import database_url
from core.db import create_engine
from core.log import purge_logs
from core.settings import load_settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=None, help="keep this many days (default: LOG_RETENTION_DAYS)")


async def _purge(url: str, days: int) -> int:
    engine = create_engine(url, application_name="spotify-mcp purge-logs")
    try:
        async with engine.begin() as connection:
            return await purge_logs(connection, days)
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    days = args.days if args.days is not None else settings.log_retention_days
    with database_url(settings) as url:
        deleted = asyncio.run(_purge(url, days))
    print(f"deleted {deleted} log rows older than {days} days")
    return 0
