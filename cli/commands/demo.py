from __future__ import annotations

import argparse

from cli.database import database_url
from cli.demo import describe, seed_demo
from core import migrate
from core.log import configure_logging
from core.settings import load_settings


def run(args: argparse.Namespace) -> int:
    del args
    settings = load_settings()
    with database_url(settings) as url:
        configure_logging("cli", level="WARNING", database_url=url)
        migrate.upgrade(url)
        print(describe(seed_demo(settings, url)))
    return 0
