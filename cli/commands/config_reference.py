from __future__ import annotations

import argparse

from cli.config_reference import render


def run(args: argparse.Namespace) -> int:
    del args
    print(render(), end="")
    return 0
