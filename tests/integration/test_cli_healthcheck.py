"""`spotify-mcp healthcheck` probes the port the service is configured with (API_PORT, ADMIN_UI_PORT), with no
secrets configured and none generated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.live_server import free_port, live_server


def _healthy(status: int) -> Starlette:
    async def healthz(_: object) -> Response:
        return JSONResponse({"status": "ok" if status == 200 else "down"}, status_code=status)

    return Starlette(routes=[Route("/healthz", healthz)])


def _healthcheck(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG"}}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "healthcheck", *args],
        env=clean | {"SPOTIFY_MCP_HOME": str(home)} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_healthcheck_probes_the_configured_api_port(tmp_path: Path) -> None:
    with live_server(_healthy(200)) as base:
        port = base.rsplit(":", 1)[1]
        assert _healthcheck(tmp_path, API_PORT=port).returncode == 0
        admin = _healthcheck(tmp_path, "--service", "admin", ADMIN_UI_PORT=port, API_PORT=str(free_port()))
        assert admin.returncode == 0, admin.stdout
    assert not (tmp_path / "secrets.json").exists(), "a probe generates no secrets"


def test_healthcheck_reports_the_url_it_probed(tmp_path: Path) -> None:
    closed = str(free_port())
    down = _healthcheck(tmp_path, API_PORT=closed)
    assert down.returncode == 1
    assert f"unhealthy: http://127.0.0.1:{closed}/healthz" in down.stdout
    with live_server(_healthy(503)) as base:
        failing = _healthcheck(tmp_path, API_PORT=base.rsplit(":", 1)[1])
    assert failing.returncode == 1 and "answered 503" in failing.stdout


def test_a_bad_port_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    bad = _healthcheck(tmp_path, API_PORT="99999")
    assert bad.returncode == 2
    assert bad.stderr.startswith("spotify-mcp: configuration error: API_PORT is invalid")
    assert bad.stderr.count("\n") == 1
