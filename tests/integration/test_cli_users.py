"""Every `--user` of the real command means the same thing (id, Spotify user id, e-mail or display name, one
resolver), an ambiguous one lists the matches, and `import` without `--user` never invents a user when others
exist: the only user, or a question in a terminal, or an error listing the users in a script."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from core.crypto import generate_key
from core.dburl import libpq_url
from tests.conftest import ADMIN_TOKEN
from tests.fixtures import exports

DEMO = "00000000-0000-0000-0000-0000000000d1"
SAM_ONE = "00000000-0000-0000-0000-0000000000a1"
SAM_TWO = "00000000-0000-0000-0000-0000000000a2"


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "TMPDIR"}}
    return env | {
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SPOTIFY_MCP_HOME": str(tmp_path / "home"),
    }


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _sql(url: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def _add_demo(url: str) -> None:
    _sql(
        url,
        "INSERT INTO app.users (id, display_name, spotify_user_id, email) "
        f"VALUES ('{DEMO}', 'Demo listener', 'demo-spotify', 'demo@example.org')",
    )


@pytest.mark.parametrize("reference", ["Demo listener", "demo listener", "demo-spotify", "Demo@Example.org", DEMO])
def test_token_create_accepts_every_kind_of_reference(database_url: str, cli: dict[str, str], reference: str) -> None:
    _add_demo(database_url)
    created = _run(cli, "token", "create", "--user", reference)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() and f"for Demo listener ({DEMO})" in created.stderr
    assert _sql(database_url, "SELECT user_id::text FROM app.api_tokens") == [(DEMO,)]


def test_an_ambiguous_user_lists_the_matches(database_url: str, cli: dict[str, str]) -> None:
    _sql(database_url, f"INSERT INTO app.users (id, display_name) VALUES ('{SAM_ONE}', 'Sam'), ('{SAM_TWO}', 'Sam')")
    for command in (["token", "create"], ["signin", "link"], ["token", "list"]):
        refused = _run(cli, *command, "--user", "Sam")
        assert refused.returncode == 1, command
        assert "2 users match `Sam`; give the id of the one you mean" in refused.stderr, command
        assert SAM_ONE in refused.stderr and SAM_TWO in refused.stderr
    unknown = _run(cli, "token", "create", "--user", "Nobody")
    assert unknown.returncode == 1
    assert "no user matches `Nobody`" in unknown.stderr and f"Sam (id {SAM_ONE})" in unknown.stderr
    by_id = _run(cli, "token", "create", "--user", SAM_TWO)
    assert by_id.returncode == 0, by_id.stderr
    assert _sql(database_url, "SELECT user_id::text FROM app.api_tokens") == [(SAM_TWO,)]


def test_import_accepts_an_email_and_without_user_takes_the_only_user(
    database_url: str, cli: dict[str, str], tmp_path: Path
) -> None:
    _add_demo(database_url)
    path = exports.extended_export(tmp_path / "my_spotify_data.zip")
    by_email = _run(cli, "import", str(path), "--user", "demo@example.org", "--no-progress")
    assert by_email.returncode == 0, by_email.stderr
    only = _run(cli, "import", str(path), "--no-progress")
    assert only.returncode == 0, only.stderr
    assert "for user `Demo listener`" in only.stdout and "created" not in only.stderr
    assert _sql(database_url, "SELECT count(*) FROM app.users") == [(1,)]  # no "local" user beside the only one
    assert _sql(database_url, "SELECT DISTINCT user_id::text FROM app.import_jobs") == [(DEMO,)]


def test_import_without_user_among_several_fails_in_a_script_listing_them(
    database_url: str, cli: dict[str, str], tmp_path: Path
) -> None:
    _add_demo(database_url)
    _sql(database_url, f"INSERT INTO app.users (id, display_name) VALUES ('{SAM_ONE}', 'Sam')")
    path = exports.extended_export(tmp_path / "my_spotify_data.zip")
    refused = _run(cli, "import", str(path))
    assert refused.returncode == 1
    assert "there are 2 users; say whose export this is with --user" in refused.stderr
    assert f"1. Demo listener (id {DEMO}" in refused.stderr and f"2. Sam (id {SAM_ONE})" in refused.stderr
    assert _sql(database_url, "SELECT count(*) FROM app.import_jobs") == [(0,)]
    assert _sql(database_url, "SELECT count(*) FROM app.users") == [(2,)]


def test_import_without_user_among_several_asks_in_a_terminal(
    database_url: str, cli: dict[str, str], tmp_path: Path
) -> None:
    _add_demo(database_url)
    _sql(database_url, f"INSERT INTO app.users (id, display_name) VALUES ('{SAM_ONE}', 'Sam')")
    path = exports.extended_export(tmp_path / "my_spotify_data.zip")
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"2\n")  # typed ahead: the terminal keeps it until the command reads its answer
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "import", str(path), "--no-progress"],
            env=cli,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = process.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode == 0, err
    assert "Whose export is this?" in out and "1. Demo listener" in out and "2. Sam" in out
    assert "for user `Sam`" in out
    assert _sql(database_url, "SELECT DISTINCT user_id::text FROM app.import_jobs") == [(SAM_ONE,)]
