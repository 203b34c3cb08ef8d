from __future__ import annotations

import argparse

from cli.database import database_url
from core import migrate
from core.dburl import redacted
from core.settings import load_settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--revision", default="head", help="target revision (default: head)")
    parser.add_argument("--downgrade", action="store_true", help="downgrade to --revision (e.g. base) instead")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    with database_url(settings) as url:
        if args.downgrade:
            migrate.downgrade(url, args.revision)
        else:
            migrate.upgrade(url, args.revision)
        print(f"database {redacted(url)} is at revision {migrate.current_revision(url)}")
    return 0
