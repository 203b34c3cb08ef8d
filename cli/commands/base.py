from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand: its name, its one-line help, and the module (imported on use) that implements it."""

    name: str
    module: str
    help: str

    def configure(self, parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
        """Import the module, let it add its arguments, and return its `run` function."""
        module = importlib.import_module(self.module)
        add_arguments = getattr(module, "configure", None)
        if add_arguments is not None:
            add_arguments(parser)
        return cast(Callable[[argparse.Namespace], int], module.run)
