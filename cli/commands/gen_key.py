from __future__ import annotations

import argparse

from core.crypto import generate_key


def run(args: argparse.Namespace) -> int:
    del args
    print(generate_key())
    return 0
