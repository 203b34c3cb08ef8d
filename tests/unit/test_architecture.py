"""The import direction of DESIGN §3, enforced by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

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


def test_the_shared_figures_import_only_the_standard_library() -> None:
    """core.marts is what the dashboards may import of ours (pyproject's import-linter contract ignores those
    edges): it must bring nothing else of the project and no database driver or other package with it."""
    graph = grimp.build_graph("core", include_external_packages=True)
    shared = {name for name in graph.modules if name == "core.marts" or name.startswith("core.marts.")}
    assert "core.marts.windows" in shared
    outside: set[str] = set()
    for module in shared:
        for imported in graph.find_modules_directly_imported_by(module):
            top = imported.split(".")[0]
            if imported in shared or (top != "core" and top in sys.stdlib_module_names):
                continue
            outside.add(f"{module} -> {imported}")
    assert outside == set()
