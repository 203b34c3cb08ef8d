"""The official MCP conformance suite (`@modelcontextprotocol/conformance`, run on Node 22) against the server at
`/mcp`, for both protocol versions it speaks: 2025-11-25 with the suite's npm `latest` (0.1.16), and 2026-07-28
with the requirement set frozen in the 0.2.0 pre-release. Both suites and Node are pinned in conformance/
(package.json + package-lock.json) and installed by `conformance/install` (npm ci) when missing. What the server may
fail is listed, with a reason per entry, in conformance/expected-failures.<version>.yml; the suite's runner fails on
anything else, and on a listed entry that passes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import Settings
from serve import mcp_apps
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import record_transform, standard_history
from tests.live_server import live_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "conformance"
NODE = CONFORMANCE / "node_modules" / ".bin" / "node"
# Protocol version -> (the suite's package alias in conformance/package.json, how to select its scenarios).
RUNS: dict[str, tuple[str, list[str]]] = {
    "2025-11-25": ("mcp-conformance-2025-11-25", ["--spec-version", "2025-11-25"]),
    "2026-07-28": ("mcp-conformance-2026-07-28", ["--requirements", "2026-07-28"]),
}
# Scenarios that are ours to pass in full, checked beyond the runner's verdict.
MUST_PASS = ("tools-list", "tools-call-error", "resources-list", "dns-rebinding-protection")
MUST_PASS_BY_VERSION = {"2025-11-25": ("server-initialize",), "2026-07-28": ("sep-2164-resource-not-found",)}
INSTALL_COMMAND = "bash conformance/install"
REQUIRE_ALL = "SPOTIFY_MCP_TESTS_REQUIRE_ALL"  # set by .ci/run: a missing tool is a failure there, not a skip
BASELINE_ENTRY = re.compile(r"^\s+- (?P<entry>[a-z0-9-]+(?::[a-z0-9-]+)?)\s+# \((?P<kind>[ab])\) \S.*$")


def _pinned() -> dict[str, str]:
    declared: dict[str, str] = json.loads((CONFORMANCE / "package.json").read_text())["dependencies"]
    return {name: spec.rpartition("@")[2] if spec.startswith("npm:") else spec for name, spec in declared.items()}


def _installed_version(package: str) -> str | None:
    manifest = CONFORMANCE / "node_modules" / package / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


def _installed() -> bool:
    versions_match = all(_installed_version(package) == version for package, version in _pinned().items())
    return versions_match and NODE.exists()


@pytest.fixture(scope="module")
def node() -> Path:
    """Node 22 with both suites, as conformance/package-lock.json pins them; installed here when missing."""
    if not _installed():
        if shutil.which("npm") is None:
            reason = (
                "npm is not installed, so the MCP conformance suite cannot be installed. Install both with: "
                f"apt-get install -y npm && {INSTALL_COMMAND}"
            )
            if os.environ.get(REQUIRE_ALL, "").strip().lower() in {"1", "true", "yes"}:
                pytest.fail(f"{reason} ({REQUIRE_ALL} is set: every test must run)", pytrace=False)
            pytest.skip(reason)
        done = subprocess.run(
            ["bash", str(CONFORMANCE / "install")], capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"{INSTALL_COMMAND} failed:\n{done.stdout}\n{done.stderr}"
        assert _installed(), "conformance/install did not install the pinned versions"
    version = subprocess.run([str(NODE), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v22."), version
    return NODE


class WithToken:
    """The suite has no way to send credentials, and /mcp needs them: give every request that carries none the
    user's token, as a connector would. Everything else (Host/Origin checks included) is the real server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.token: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        missing = scope["type"] == "http" and not any(name == b"authorization" for name, _ in scope["headers"])
        if missing and self.token is not None:
            scope = {**scope, "headers": [*scope["headers"], (b"authorization", f"Bearer {self.token}".encode())]}
        await self.app(scope, receive, send)


@pytest.fixture
def mcp_url(settings: Settings, database_url: str) -> Iterator[str]:
    history = standard_history(database_url, datetime.now(UTC))
    record_transform(database_url, datetime.now(UTC) - timedelta(minutes=5))
    server = WithToken(create_app(settings, database_url))
    with live_server(server) as base:
        created = httpx.post(
            f"{base}/admin/users/{history.user_id}/api-tokens",
            json={"name": "conformance"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert created.status_code == 201, created.text
        server.token = created.json()["token"]
        yield f"{base}/mcp"


def _checks(output: Path) -> dict[str, list[dict[str, Any]]]:
    """scenario -> its checks, from the runner's output folders (`server-<scenario>-<timestamp>/checks.json`)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for checks in output.glob("server-*/checks.json"):
        scenario = re.sub(r"^server-|-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks.parent.name)
        found[scenario] = json.loads(checks.read_text())
    return found


@pytest.mark.parametrize("version", sorted(RUNS))
def test_official_conformance_suite_passes_but_for_the_baseline(
    node: Path, mcp_url: str, version: str, tmp_path: Path
) -> None:
    package, selection = RUNS[version]
    baseline = CONFORMANCE / f"expected-failures.{version}.yml"
    command = [str(node), str(CONFORMANCE / "node_modules" / package / "dist" / "index.js"), "server"]
    command += ["--url", mcp_url, *selection, "--expected-failures", str(baseline), "-o", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=170, check=False)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Baseline check passed" in report, report
    checks = _checks(tmp_path)
    assert len(checks) >= 25, sorted(checks)  # the run really went through the suite
    for scenario in MUST_PASS + MUST_PASS_BY_VERSION[version]:
        statuses = {check["id"]: check["status"] for check in checks[scenario]}
        assert "FAILURE" not in statuses.values() and "SUCCESS" in statuses.values(), (scenario, statuses)
    listed = next(check for check in checks["resources-list"] if check["id"] == "resources-list")
    assert set(listed["details"]["resources"]) == {app.uri for app in mcp_apps.APPS}


@pytest.mark.parametrize("version", sorted(RUNS))
def test_every_expected_failure_gives_an_allowed_reason(version: str) -> None:
    """(a) a capability the server does not declare, or (b) the suite's own fixture tools/prompts/resources."""
    lines = (CONFORMANCE / f"expected-failures.{version}.yml").read_text().splitlines()
    entries = [line for line in lines if line.lstrip().startswith("- ")]
    assert entries, "an empty baseline is written as `server: []`"
    for line in entries:
        assert BASELINE_ENTRY.match(line), f"needs `- <scenario>[:<check>]  # (a|b) <reason>`: {line!r}"
