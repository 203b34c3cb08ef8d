"""No Docker engine runs here: the compose file and Dockerfile are checked statically."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_file_validates_against_compose_schema() -> None:
    tool = shutil.which("check-jsonschema")
    assert tool is not None
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint() -> None:
    tool = shutil.which("hadolint")
    assert tool is not None
    result = subprocess.run([tool, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_has_production_shape() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "migrate", "api", "collector", "admin", "dashboards"}
    assert "healthcheck" in services["postgres"]
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("api", "collector"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["admin"]["depends_on"]["api"]["condition"] == "service_healthy"
    # Streamlit is never published: only the admin UI's proxy reaches it.
    assert "ports" not in services["dashboards"]
    assert _compose()["networks"]["internal"]["internal"] is True


def test_dockerfile_uses_python_314_slim_and_uv_lock() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.14-slim" in text
    assert "uv sync --locked" in text


def test_docker_context_excludes_local_state_and_secrets() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".spotify-mcp", ".env", ".git"} <= ignored
