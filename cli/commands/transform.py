from __future__ import annotations

import argparse
import json

from cli.database import database_url
from core.log import configure_logging
from core.settings import load_settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every model from the raw tables (after changing a rule var or a user's time zone)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="wait this long for a transform another process is running (default: 600)",
    )


def run(args: argparse.Namespace) -> int:
    from transform.runner import run_transform

    settings = load_settings()
    with database_url(settings) as url:
        # Logged as the transform service, to stdout and app.logs (failures included).
        sink = configure_logging("transform", database_url=url)
        try:
            outcome = run_transform(url, full_refresh=args.full_refresh, wait_seconds=args.wait)
        finally:
            if sink is not None:
                sink.close()
    print(
        json.dumps({"status": outcome.status, "job_run_id": outcome.job_run_id, "seconds": round(outcome.seconds, 2)})
    )
    if outcome.error:
        print(f"transform failed: {outcome.error}")
    return 0 if outcome.ok else 1
