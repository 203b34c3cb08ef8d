"""`up` never changes permissions above its data folder (issue 16.9): run as root, the embedded PostgreSQL
runs as a system user, and a parent folder closed to it is reported, not opened up."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.embedded_pg import EmbeddedPostgres, EmbeddedPostgresError, _can_traverse


def _stat(mode: int, uid: int, gid: int) -> os.stat_result:
    return os.stat_result((stat.S_IFDIR | mode, 0, 0, 2, uid, gid, 4096, 0, 0, 0))


def test_who_may_pass_through_a_folder() -> None:
    user, group = 990, 991
    assert _can_traverse(_stat(0o700, user, 0), user, {group})  # its owner
    assert not _can_traverse(_stat(0o600, user, 0), user, {group})
    assert _can_traverse(_stat(0o710, 0, group), user, {group})  # its group
    assert not _can_traverse(_stat(0o701, 0, group), user, {group})  # group bits decide for the group
    assert _can_traverse(_stat(0o701, 0, 0), user, {group})  # anyone
    assert not _can_traverse(_stat(0o770, 0, 0), user, {group})


@pytest.fixture
def closed_parent() -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="spotify-mcp-closed-"))  # 0700, owned by root
    try:
        yield parent
    finally:
        EmbeddedPostgres(parent / "home").stop()
        shutil.rmtree(parent, ignore_errors=True)


def test_a_closed_parent_is_reported_and_left_as_it_is(closed_parent: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only as root does the embedded PostgreSQL run as another (system) user")
    assert stat.S_IMODE(closed_parent.stat().st_mode) == 0o700
    home = closed_parent / "home"
    with pytest.raises(EmbeddedPostgresError) as refused:
        EmbeddedPostgres(home).start()
    message = str(refused.value)
    assert f"{closed_parent} is closed to it (mode 0700)" in message
    assert f"chmod o+x {closed_parent}" in message and "SPOTIFY_MCP_HOME" in message
    assert stat.S_IMODE(closed_parent.stat().st_mode) == 0o700  # not opened up
    assert not (home / "pgdata" / "PG_VERSION").exists()  # refused before initdb
