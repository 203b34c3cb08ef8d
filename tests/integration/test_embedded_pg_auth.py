"""The embedded PostgreSQL lets nobody in without the password (issue 16.1): a password generated into
secrets.json (0600), scram-sha-256 on every pg_hba line, a unix socket in the 0700 data folder and no TCP port;
and data folders made the old way (trust authentication) are upgraded in place on the next start — stopped or
still running — with their data kept."""

from __future__ import annotations

import json
import shlex
import stat
from pathlib import Path

import psycopg
import pytest

from core.dburl import libpq_url
from core.embedded_pg import PORT_FILE, EmbeddedPostgres, _chown_tree, _free_port, _make_reachable, _run_as


def _listening_tcp_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _refused(conninfo: str) -> str:
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(conninfo, connect_timeout=5).close()
    return str(refused.value)


def test_fresh_server_needs_the_password_and_listens_on_no_tcp_port(server_home: Path) -> None:
    server = EmbeddedPostgres(server_home).start()
    assert server.socket_dir == server.pgdata and stat.S_IMODE(server.pgdata.stat().st_mode) == 0o700
    secrets_file = server_home / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert json.loads(secrets_file.read_text())["POSTGRES_PASSWORD"] == server.password
    assert server.port not in _listening_tcp_ports()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", connect_timeout=3)
    _assert_locked_socket_only(server)
    # Another process (the next `up`, a child service) finds the running server and the same password.
    again = EmbeddedPostgres(server_home).start()
    assert again.url == server.url and not again.started_here


def _assert_locked_socket_only(server: EmbeddedPostgres) -> None:
    socket = f"host={server.socket_dir} port={server.port} user=postgres dbname=postgres"
    assert "no password supplied" in _refused(socket)
    assert "password authentication failed" in _refused(socket + " password=guess")
    rules = [line.split() for line in (server.pgdata / "pg_hba.conf").read_text().splitlines()]
    rules = [rule for rule in rules if rule and not rule[0].startswith("#")]
    assert rules and all(rule[-1] == "scram-sha-256" for rule in rules), rules
    with psycopg.connect(libpq_url(server.url)) as connection:
        assert connection.execute("SELECT current_user").fetchone() == ("postgres",)


def _old_style(home: Path, *, keep_running: bool) -> int:
    """A data folder as the previous version made it: trust authentication, no password, TCP on 127.0.0.1,
    holding a table with a row."""
    server = EmbeddedPostgres(home)
    home.mkdir(parents=True, exist_ok=True)
    server.pgdata.mkdir()
    user = _run_as()
    if user is not None:
        _make_reachable(server.home, user)
        _chown_tree(server.pgdata, user)
    server._pg("initdb", "-D", str(server.pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8", timeout=120)
    port = _free_port()
    (server.pgdata / PORT_FILE).write_text(str(port))
    options = f"-h 127.0.0.1 -p {port} -k {shlex.quote(str(server.pgdata))}"
    server._pg(
        "pg_ctl", "start", "-w", "-D", str(server.pgdata), "-l", str(server.pgdata / "server.log"), "-o", options
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with psycopg.connect(url, autocommit=True) as connection:  # trust: anyone on the machine got in like this
        connection.execute("CREATE DATABASE spotify_mcp")
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/spotify_mcp", autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (n int)")
        connection.execute("INSERT INTO kept VALUES (42)")
    if not keep_running:
        server.stop()
    return port


def test_an_old_stopped_data_folder_is_upgraded_in_place(server_home: Path) -> None:
    port = _old_style(server_home, keep_running=False)
    server = EmbeddedPostgres(server_home).start()
    assert server.port == port  # the remembered port, now only a socket name
    _assert_locked_socket_only(server)
    with psycopg.connect(libpq_url(server.url)) as connection:
        assert connection.execute("SELECT n FROM kept").fetchone() == (42,)
    server.stop()
    restarted = EmbeddedPostgres(server_home).start()  # an upgraded folder starts like any other
    _assert_locked_socket_only(restarted)


def test_an_old_server_still_running_is_upgraded_in_place(server_home: Path) -> None:
    port = _old_style(server_home, keep_running=True)
    server = EmbeddedPostgres(server_home).start()
    assert not server.started_here and server.port == port
    # It still listens on 127.0.0.1 until restarted, but no longer lets anyone in without the password.
    assert "no password supplied" in _refused(f"host=127.0.0.1 port={port} user=postgres dbname=postgres")
    _assert_locked_socket_only(server)
    with psycopg.connect(libpq_url(server.url)) as connection:
        assert connection.execute("SELECT n FROM kept").fetchone() == (42,)
