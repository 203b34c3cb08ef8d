from __future__ import annotations

import argparse

from cli.commands.base import Command
from cli.config_reference import render


def _run(args: argparse.Namespace) -> int:
    del args
    print(render(), end="")
    return 0


COMMAND = Command("config-reference", "Print the configuration reference (docs/configuration.md) as Markdown.", _run)
