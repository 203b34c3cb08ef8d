"""`spotify-mcp import PATH [--user]`: local user, progress on stderr, summary, idempotent, clear refusals."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from cli.main import main
from core.crypto import generate_key
from core.dburl import libpq_url
from tests.conftest import ADMIN_TOKEN
from tests.fixtures import exports


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in {
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SPOTIFY_MCP_HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(name, value)
    return database_url


def _scalar(url: str, sql: str) -> object:
    with psycopg.connect(libpq_url(url)) as connection:
        row = connection.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_import_for_the_local_user_twice(cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = exports.extended_export(tmp_path / "my_spotify_data.zip")
    assert main(["import", str(path)]) == 0
    first = capsys.readouterr()
    assert "created the local user `local`" in first.err
    assert "100% |" in first.err and "11 records · 3/3 files" in first.err
    assert "imported my_spotify_data.zip for user `local`" in first.out
    assert "records read 11 · new plays 9 · duplicates 1 · skipped: no_item 1" in first.out
    assert "plays from 2023-01-01 to 2024-03-01" in first.out

    assert main(["import", str(path), "--no-progress"]) == 0
    second = capsys.readouterr()
    assert "new plays 0" in second.out and "created" not in second.err and second.err == ""
    assert _scalar(cli_env, "SELECT count(*) FROM app.users") == 1
    assert _scalar(cli_env, "SELECT count(*) FROM raw.export_records") == 9
    assert _scalar(cli_env, "SELECT count(*) FROM app.import_jobs WHERE origin = 'cli' AND status = 'success'") == 2
    assert _scalar(cli_env, "SELECT count(*) FROM app.logs WHERE message LIKE 'import job % finished:%'") == 2
    assert path.exists()  # the user's own file is never moved or deleted


def test_named_user_and_refusals(cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(libpq_url(cli_env), autocommit=True) as connection:
        connection.execute("INSERT INTO app.users (display_name) VALUES ('carol')")
    path = exports.account_export(tmp_path / "acct.zip")
    assert main(["import", str(path), "--user", "carol", "--no-progress"]) == 0
    assert "for user `carol`" in capsys.readouterr().out
    assert main(["import", str(path), "--user", "nobody"]) == 1
    assert "no user matches `nobody`" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.zip")]) == 1
    assert "is not a file" in capsys.readouterr().err
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"garbage")
    assert main(["import", str(broken), "--user", "carol"]) == 1
    err = capsys.readouterr().err
    assert "broken.zip was not imported" in err and "not a readable ZIP" in err
    assert _scalar(cli_env, "SELECT count(*) FROM app.users") == 1
