from __future__ import annotations

import pytest

from cli.commands import COMMANDS
from cli.main import main


@pytest.mark.parametrize("name", [command.name for command in COMMANDS])
def test_every_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: spotify-mcp {name}" in out
    assert len(out.splitlines()) >= 3


def test_command_names_are_unique() -> None:
    names = [command.name for command in COMMANDS]
    assert len(names) == len(set(names))


def test_listing_commands_imports_no_heavy_dependency() -> None:
    """`spotify-mcp --help` and argument parsing stay fast: a command's module loads only when it runs."""
    import subprocess
    import sys

    probe = (
        "import sys; from cli.main import build_parser; build_parser(['gen-key']).parse_args(['gen-key']); "
        "print(sorted(m for m in ('dbt', 'sklearn', 'mcp', 'streamlit', 'serve', 'ingest', 'transform') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_command_module_has_run() -> None:
    import importlib

    for command in COMMANDS:
        module = importlib.import_module(command.module)
        assert callable(module.run), command.module
