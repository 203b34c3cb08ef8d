from __future__ import annotations

import argparse

from cli.commands.base import Command
from core.crypto import generate_key


def _run(args: argparse.Namespace) -> int:
    del args
    print(generate_key())
    return 0


COMMAND = Command("gen-key", "Print a new key for TOKEN_ENCRYPTION_KEY.", _run)
