from __future__ import annotations

import argparse

from cli.database import database_url
from core.dburl import redacted
from core.settings import load_settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--show-password", action="store_true", help="print the password instead of ***")


def run(args: argparse.Namespace) -> int:
    """Print the URL (starting the embedded server and leaving it running, so the URL works)."""
    settings = load_settings()
    with database_url(settings, keep_running=True) as url:
        print(url if args.show_password else redacted(url))
    return 0
