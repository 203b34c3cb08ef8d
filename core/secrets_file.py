"""`SPOTIFY_MCP_HOME/secrets.json`: the generated secrets of a local install, mode 0600 from its first byte.

One reader and writer for the file (the settings' local secrets, the embedded PostgreSQL's password). A secret
missing from an existing file — one written by an older version — is generated and added in place; writers
are serialised by an exclusive lock and replace the file atomically, so two processes starting at once agree.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

FILE_NAME = "secrets.json"


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / f".{FILE_NAME}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    stored = json.loads(path.read_text())
    if not isinstance(stored, dict):
        raise ValueError(f"{path} is not a JSON object; restore it from a backup or move it away")
    return {str(key): str(value) for key, value in stored.items()}


def _write(path: Path, values: Mapping[str, str]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # 0600 before anything is written
    with os.fdopen(fd, "w") as handle:
        json.dump(dict(values), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def ensure(home: Path, generators: Mapping[str, Callable[[], str]]) -> dict[str, str]:
    """Every secret of the file, after adding (generated) each of `generators` that it lacked."""
    path = home / FILE_NAME
    with _locked(home):
        stored = _read(path)
        missing = {name: make() for name, make in generators.items() if name not in stored}
        if missing:
            stored |= missing
            _write(path, stored)
        return stored
