"""Shared fixtures: a real PostgreSQL for integration tests.

`TEST_DATABASE_URL` names a server to use (any database on it; we create our own beside it). Without
it the session starts an embedded PostgreSQL in a temporary folder. A template database is migrated
once by the real migrations; each test gets a fresh copy (`CREATE DATABASE … TEMPLATE`), so tests are
isolated and may run next to other test sessions on the same server (names are random).

The suite leaves nothing behind in the temporary folder: the session points `TMPDIR` (and `tempfile`) at one
folder of its own — the embedded server, pytest's `tmp_path`s, dbt's caches and the temporary files of the
commands the tests start all land there — and removes it at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core import migrate
from core.crypto import generate_key
from core.db import create_engine
from core.dburl import libpq_url, with_database
from core.embedded_pg import EmbeddedPostgres
from core.settings import Settings, load_settings


def _admin_execute(server_url: str, statement: str) -> None:
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture(scope="session", autouse=True)
def session_temp_root() -> Iterator[Path]:
    """One temporary folder for everything the session creates, removed when it ends."""
    root = Path(tempfile.mkdtemp(prefix="spotify-mcp-tests-"))
    root.chmod(0o711)  # embedded servers below it run as their own system user, which must pass through
    previous_env, previous_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(root)
    try:
        yield root
    finally:
        tempfile.tempdir = previous_dir
        if previous_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous_env
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url(session_temp_root: Path) -> Iterator[str]:
    """A URL on a real PostgreSQL server (its database part is replaced per use)."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    home = Path(tempfile.mkdtemp(prefix="spotify-mcp-test-pg-", dir=session_temp_root))
    server = EmbeddedPostgres(home).start()
    try:
        yield server.server_url()
    finally:
        server.destroy()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    name = f"spmcp_tpl_{secrets.token_hex(4)}"
    _admin_execute(pg_server_url, f'CREATE DATABASE "{name}"')
    migrate.upgrade(with_database(pg_server_url, name))
    try:
        yield name
    finally:
        _admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def server_home() -> Iterator[Path]:
    """A home folder for an embedded PostgreSQL run by a test.

    Not under pytest's tmp_path: pytest keeps /tmp/pytest-of-<user> at mode 0700 (and re-applies it
    when another session starts), which would lock out the server's own system user. The folder above the
    home is opened to pass through here (mkdtemp makes it 0700): the server never changes folders above its
    home, it only says when one is closed to it."""
    home = Path(tempfile.mkdtemp(prefix="spotify-mcp-home-"))
    home.chmod(0o711)
    try:
        yield home / "home"
    finally:
        EmbeddedPostgres(home / "home").stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def empty_database_url(pg_server_url: str) -> Iterator[str]:
    """A new database with nothing in it (for migration tests)."""
    name = f"spmcp_t_{secrets.token_hex(6)}"
    _admin_execute(pg_server_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(pg_server_url, name)
    finally:
        _admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """A migrated database of its own for one test."""
    name = f"spmcp_t_{secrets.token_hex(6)}"
    _admin_execute(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    try:
        yield with_database(pg_server_url, name)
    finally:
        _admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, application_name="spotify-mcp tests")
    try:
        yield engine
    finally:
        await engine.dispose()


ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Production-style settings on the test database (explicit key and admin token, no local mode)."""
    return load_settings(
        {
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": generate_key(),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SPOTIFY_MCP_HOME": str(tmp_path / "home"),
        }
    )
