"""`uv run pytest` on a fresh machine: the suite removes what it creates in the temporary folder.

A nested test session — on its own embedded PostgreSQL (no TEST_DATABASE_URL, as on a fresh machine), with a
transform (dbt's workspace and caches) and pytest's tmp_path — runs with an empty TMPDIR of its own, which must
be empty again when it ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NESTED = [
    "tests/integration/test_transform_runner.py::test_a_failing_build_is_recorded_and_returned_not_raised",
    "tests/unit/test_cli_help.py",
]


def test_a_test_session_leaves_nothing_in_the_temp_folder(session_temp_root: Path) -> None:
    # Beside this session's folder, not in it: the embedded server's socket path must stay short (< 108 bytes).
    temp = Path(tempfile.mkdtemp(prefix="smcp-", dir=session_temp_root.parent))
    try:
        _run_nested_session(temp)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _run_nested_session(temp: Path) -> None:
    temp.chmod(0o755)  # the embedded server's system user must reach what the nested session puts here
    env = {key: value for key, value in os.environ.items() if key not in {"TEST_DATABASE_URL", "PYTEST_ADDOPTS"}}
    env["TMPDIR"] = str(temp)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *NESTED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout
    left = sorted(str(path.relative_to(temp)) for path in temp.rglob("*"))
    assert left == [], f"the test session left these in its temporary folder: {left[:20]}"
