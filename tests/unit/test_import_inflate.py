"""`archive.open_member`: ISA-L inflates a deflated member to exactly zipfile's bytes, and zipfile's CRC check stays."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path
from typing import IO

import pytest
from isal import isal_zlib

from ingest.imports.archive import open_member


def _zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression, compresslevel=6) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def _read_all(handle: IO[bytes], size: int) -> bytes:
    parts = []
    while chunk := handle.read(size):
        parts.append(chunk)
    return b"".join(parts)


@pytest.mark.parametrize("read_size", [1, 4096, 64 * 1024, 1 << 20])
def test_deflated_member_inflates_to_zipfiles_bytes(tmp_path: Path, read_size: int) -> None:
    rng = random.Random(5)
    content = b"".join(
        b'{"ts":"2023-01-01T00:00:%02dZ","name":"%s"}\n' % (n % 60, rng.randbytes(rng.randint(0, 40)).hex().encode())
        for n in range(20_000 if read_size > 1 else 2_000)
    )
    path = _zip(tmp_path / "a.zip", {"m.jsonl": content, "empty.json": b""})
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with open_member(archive, info) as member:
                assert isinstance(member._decompressor, type(isal_zlib.decompressobj(-15)))  # type: ignore[attr-defined]
                assert _read_all(member, read_size) == archive.read(info)
    assert len(content) > 1_000_000 or read_size == 1


def test_stored_member_is_read_as_it_is(tmp_path: Path) -> None:
    path = _zip(tmp_path / "s.zip", {"m.json": b"[1, 2, 3]"}, compression=zipfile.ZIP_STORED)
    with zipfile.ZipFile(path) as archive, open_member(archive, archive.getinfo("m.json")) as member:
        assert member.read() == b"[1, 2, 3]"


def test_a_wrong_crc_is_still_caught(tmp_path: Path) -> None:
    path = _zip(tmp_path / "c.zip", {"m.json": b"[" + b"1, " * 50_000 + b"1]"})
    data = bytearray(path.read_bytes())
    # The CRC in the central directory (offset 16 of its entry): zipfile checks the inflated bytes against it.
    central = data.rfind(b"PK\x01\x02")
    data[central + 16] ^= 0xFF
    path.write_bytes(bytes(data))
    with (
        zipfile.ZipFile(path) as archive,
        open_member(archive, archive.getinfo("m.json")) as member,
        pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"),
    ):
        _read_all(member, 64 * 1024)
