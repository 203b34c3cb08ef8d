"""The import direction of DESIGN §3, enforced by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_layers_import_only_downward() -> None:
    lint_imports = shutil.which("lint-imports")
    assert lint_imports is not None, "import-linter is a dev dependency; run `uv sync`"
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_imports_cli() -> None:
    offenders = [
        path
        for package in ("core", "ingest", "transform", "serve", "dashboards")
        for path in (ROOT / package).rglob("*.py")
        if "import cli" in path.read_text() or "from cli" in path.read_text()
    ]
    assert offenders == []
