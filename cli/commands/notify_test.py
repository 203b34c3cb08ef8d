"""`spotify-mcp notify-test`: send a test message to every NOTIFY_URLS entry now and say which worked.

Needs no database: it only reads the settings. Exit code 0 when every URL took the message, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from core.settings import load_settings
from ingest.notifications import send_test


def run(args: argparse.Namespace) -> int:
    del args
    settings = load_settings()
    if not settings.notify_urls:
        print(
            "spotify-mcp notify-test: NOTIFY_URLS is not set; give Apprise URLs (ntfys://ntfy.sh/<topic>, "
            "slack://…, discord://…, mailto://…, json://…) separated by commas",
            file=sys.stderr,
        )
        return 1
    results = asyncio.run(send_test(settings))
    for position, problem in results:
        print(f"NOTIFY_URLS #{position}: " + ("sent" if problem is None else f"not sent: {problem}"))
    return 0 if all(problem is None for _, problem in results) else 1
