"""`spotify-mcp`: the one command, and the composition root that wires the layers together.

Every subcommand lives in its own module under `cli/commands/` and registers itself in `COMMANDS`.
Configuration errors end the process with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cli.commands import COMMANDS
from core.settings import SettingsError

EXIT_CONFIG = 2


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Every command is listed; only the one named in `argv` is imported and given its arguments."""
    parser = argparse.ArgumentParser(
        prog="spotify-mcp",
        description="Keep your Spotify listening history and ask an assistant about it.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    selected = next((arg for arg in argv if not arg.startswith("-")), None)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        if command.name == selected:
            sub.set_defaults(handler=command.configure(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(arguments).parse_args(arguments)
    try:
        result: int = args.handler(args)
    except SettingsError as error:
        print(f"spotify-mcp: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
