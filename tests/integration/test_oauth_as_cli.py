"""`spotify-mcp signin`: set a local user's password (from stdin, stored with scrypt), print a one-time link (stored
hashed), list and revoke connected assistants."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from core.crypto import generate_key
from core.dburl import libpq_url
from serve.oauth.signin import verify_password
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import add_user

ROOT = Path(__file__).resolve().parents[2]


def test_signin_command_sets_password_issues_link_and_lists_grants(database_url: str, tmp_path: Path) -> None:
    user = add_user(database_url, "UTC", "zip only")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SPOTIFY_MCP_HOME": str(tmp_path / "home"),
        "PUBLIC_BASE_URL": "https://music.example.org",
    }

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "signin", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            input=stdin,
        )

    secret = "a long local password"
    done = run("password", "--user", str(user), "--login", "zip", "--password-stdin", stdin=secret + "\n")
    assert done.returncode == 0, done.stderr
    short = run("password", "--user", str(user), "--login", "zip", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least" in short.stderr
    link = run("link", "--user", str(user), "--hours", "2")
    assert link.returncode == 0, link.stderr
    url = link.stdout.strip()
    assert url.startswith("https://music.example.org/oauth/signin/link?token=smcp_ln_")
    with psycopg.connect(libpq_url(database_url)) as connection:
        stored = connection.execute("SELECT login_name, password_hash FROM app.oauth_local_credentials").fetchall()
        links = connection.execute("SELECT link_hash FROM app.oauth_signin_links").fetchall()
    assert stored[0][0] == "zip" and stored[0][1].startswith("scrypt$") and verify_password(secret, stored[0][1])
    assert secret not in stored[0][1] and links and url.split("token=")[1] not in links[0][0]
    grants = run("grants", "--user", str(user))
    assert grants.returncode == 0 and grants.stdout == ""
    missing = run("revoke", "--user", str(user), "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1 and "no grant" in missing.stderr
