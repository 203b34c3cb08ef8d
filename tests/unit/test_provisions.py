"""Browser and Node tests never pass silently: without Chromium they skip saying how to install it (and fail when
CI requires every test); Node comes with the dev dependencies."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import provisions


@pytest.fixture
def no_browser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "no-browsers"))  # Playwright downloaded none
    monkeypatch.delenv(provisions.CHROMIUM_ENV, raising=False)
    monkeypatch.delenv(provisions.REQUIRE_ALL_ENV, raising=False)


@pytest.mark.usefixtures("no_browser")
def test_without_chromium_a_browser_test_is_skipped_with_the_install_command() -> None:
    with pytest.raises(pytest.skip.Exception, match="uv run playwright install chromium"):
        provisions.chromium()


@pytest.mark.usefixtures("no_browser")
def test_without_chromium_a_browser_test_fails_where_every_test_must_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(provisions.REQUIRE_ALL_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=r"SPOTIFY_MCP_TESTS_REQUIRE_ALL is set"):
        provisions.chromium()


@pytest.mark.usefixtures("no_browser")
def test_a_configured_chromium_that_is_missing_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(provisions.CHROMIUM_ENV, str(tmp_path / "nothing-here"))
    with pytest.raises(pytest.skip.Exception, match="is no file"):
        provisions.chromium()


def test_a_chromium_on_path_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    browser = tmp_path / "bin" / "chromium"
    browser.parent.mkdir()
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    monkeypatch.setenv("PATH", str(browser.parent))
    monkeypatch.delenv(provisions.CHROMIUM_ENV, raising=False)
    assert provisions.chromium() == str(browser)


def test_node_comes_with_the_dev_dependencies() -> None:
    command, env = provisions.npx()
    version = subprocess.run([*command, "--version"], env=env, capture_output=True, text=True, check=True, timeout=60)
    assert version.stdout.strip()[0].isdigit()
    node = subprocess.run(["node", "--version"], env=env, capture_output=True, text=True, check=True, timeout=60)
    assert node.stdout.startswith("v22."), "npx's children must find the provisioned Node first on PATH"
