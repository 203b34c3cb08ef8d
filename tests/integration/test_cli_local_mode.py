"""`spotify-mcp migrate` on an empty machine: no configuration, embedded PostgreSQL, both schemas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from core.embedded_pg import EmbeddedPostgres


def _clean_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    env["SPOTIFY_MCP_HOME"] = str(home)
    return env


def test_migrate_with_no_configuration_creates_schemas_in_embedded_postgres(server_home: Path) -> None:
    home = server_home
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "migrate"], env=_clean_env(home), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "is at revision" in result.stdout
    server = EmbeddedPostgres(home)
    assert not server.is_running(), "migrate must stop the embedded server it started"
    try:
        server.start()
        with psycopg.connect(server.url) as connection:
            schemas = {row[0] for row in connection.execute("SELECT nspname FROM pg_namespace")}
        assert {"app", "raw"} <= schemas
        # Reused, not re-initialised, on the next start; secrets were generated once.
        assert (home / "secrets.json").exists()
    finally:
        server.destroy()


def test_bad_configuration_exits_2_with_one_line(tmp_path: Path) -> None:
    env = _clean_env(tmp_path) | {"DATABASE_URL": "postgresql://x/y", "TOKEN_ENCRYPTION_KEY": "nope"}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "TOKEN_ENCRYPTION_KEY" in result.stderr and "gen-key" in result.stderr
