"""Open an export ZIP, refuse hostile or broken ones, and stream the records of its history members.

Checks before a single record is read (each failure is an `ImportRejected` with a message for a person):
file size (IMPORT_MAX_ZIP_SIZE_MB), a readable central directory (truncated/not a ZIP), member names with
`..` or absolute paths, symlinks, encrypted history members, the declared uncompressed size of the history
members (a multiple of the ZIP cap) and their compression ratio (zip bombs), and that there is any
history at all. While reading, the bytes actually inflated are counted against the same caps (a member
whose header lies is stopped), JSON is parsed as a stream (`jsonstream`) (never a whole file in memory), and
broken JSON is reported with its file and position.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from ingest.imports.errors import ImportRejected
from ingest.imports.formats import EXPECTED_NAMES, MemberKind, classify_member
from ingest.imports.jsonstream import (
    JsonStreamError,
    NotAnArray,
    Prefixed,
    iter_array,
    iter_array_ijson,
    iter_array_typed,
)

# History JSON compresses ~8-15x; beyond this ratio a member is treated as a zip bomb.
MAX_COMPRESSION_RATIO: Final = 100
# Ratios are only judged for members larger than this (tiny files compress oddly).
RATIO_MIN_SIZE: Final = 1 << 20
# Total uncompressed history may be at most this multiple of IMPORT_MAX_ZIP_SIZE_MB.
UNCOMPRESSED_FACTOR: Final = 20
_READ_CHUNK: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    kind: MemberKind
    compressed_size: int
    file_size: int


@dataclass(slots=True)
class ArchivePlan:
    members: list[Member]
    ignored: list[str]
    total_uncompressed: int
    max_uncompressed: int
    bytes_read: int = 0
    members_done: int = field(default=0)


def _unsafe_name(name: str) -> bool:
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return True
    return any(part == ".." for part in normalized.split("/"))


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def open_archive(path: Path, *, max_zip_bytes: int) -> zipfile.ZipFile:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImportRejected(
            f"the file {path.name} is gone (it was moved or deleted before the import ran); upload it again",
            reason="missing_file",
        ) from None
    if size > max_zip_bytes:
        raise ImportRejected(
            f"{path.name} is {size / 1e6:.1f} MB, more than the limit of {max_zip_bytes / 1e6:.0f} MB "
            "(IMPORT_MAX_ZIP_SIZE_MB); split the export or raise the limit",
            reason="zip_too_large",
        )
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile, EOFError, OSError:
        raise ImportRejected(
            f"{path.name} is not a readable ZIP file (it may be truncated by an interrupted download, or not a "
            "ZIP at all); download the export from Spotify again and upload the .zip file unchanged",
            reason="bad_zip",
        ) from None


def plan_archive(archive: zipfile.ZipFile, *, max_zip_bytes: int) -> ArchivePlan:
    """Inspect every member; return the history members to read, or raise `ImportRejected`."""
    members: list[Member] = []
    ignored: list[str] = []
    total = 0
    max_total = max_zip_bytes * UNCOMPRESSED_FACTOR
    for info in archive.infolist():
        if _unsafe_name(info.filename):
            raise ImportRejected(
                f"the ZIP contains a member with an unsafe path ({info.filename!r}: absolute or with `..`); "
                "this is not an export as Spotify produces it, use the original file",
                reason="unsafe_member",
                member=info.filename,
            )
        if _is_symlink(info):
            raise ImportRejected(
                f"the ZIP contains a symbolic link ({info.filename}); exports never do, use the original file",
                reason="symlink_member",
                member=info.filename,
            )
        if info.is_dir():
            continue
        kind = classify_member(info.filename)
        if kind is None:
            ignored.append(info.filename)
            continue
        if info.flag_bits & 0x1:
            raise ImportRejected(
                f"{info.filename} is encrypted (password-protected ZIP); export it again from Spotify without a "
                "password, or unpack and re-zip it without encryption",
                reason="encrypted_member",
                member=info.filename,
            )
        if info.file_size >= RATIO_MIN_SIZE and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise ImportRejected(
                f"{info.filename} inflates {info.file_size / max(info.compress_size, 1):.0f}x "
                f"(more than {MAX_COMPRESSION_RATIO}x): refused as a possible zip bomb; use the original export",
                reason="zip_bomb",
                member=info.filename,
            )
        total += info.file_size
        if total > max_total:
            raise ImportRejected(
                f"the history files unpack to more than {max_total / 1e9:.1f} GB ({UNCOMPRESSED_FACTOR}x "
                "IMPORT_MAX_ZIP_SIZE_MB): refused as a possible zip bomb; split the export or raise the limit",
                reason="too_large_uncompressed",
                member=info.filename,
            )
        members.append(Member(info.filename, kind, info.compress_size, info.file_size))
    if not members:
        found = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        raise ImportRejected(
            "no Spotify streaming history found in the ZIP (looked for "
            f'{EXPECTED_NAMES}; found {found or "no files at all"}). Request "Extended streaming history" or '
            '"Account data" at spotify.com/account/privacy and upload that ZIP',
            reason="no_history",
        )
    members.sort(key=lambda member: member.name)
    return ArchivePlan(members=members, ignored=ignored, total_uncompressed=total, max_uncompressed=max_total)


class _CountingReader:
    """Counts inflated bytes and stops a member that inflates beyond what its header declared."""

    def __init__(self, raw: IO[bytes], member: Member, plan: ArchivePlan) -> None:
        self._raw = raw
        self._member = member
        self._plan = plan
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(_READ_CHUNK if size < 0 else size)
        self.count += len(chunk)
        self._plan.bytes_read += len(chunk)
        if self.count > self._member.file_size or self._plan.bytes_read > self._plan.max_uncompressed:
            raise ImportRejected(
                f"{self._member.name} inflates beyond its declared size: refused as a possible zip bomb",
                reason="zip_bomb",
                member=self._member.name,
            )
        return chunk


def iter_member_records(
    archive: zipfile.ZipFile,
    member: Member,
    plan: ArchivePlan,
    *,
    parser: str = "msgspec",
    element_type: type | None = None,
) -> Iterator[object]:
    """Yield the records of one history member, streamed. Raises `ImportRejected` on broken content.

    `parser` (see `jsonstream`): `msgspec` (the default: records decoded into `element_type` while they fit
    it, dicts after that; plain `stdlib` when no type is given), `stdlib` or `ijson` (dicts throughout).
    """
    count = 0
    try:
        with archive.open(member.name) as raw:
            reader = _CountingReader(raw, member, plan)
            records: Iterator[object]
            if parser == "ijson":
                records = iter_array_ijson(_checked_start(reader, member))
            elif parser == "msgspec" and element_type is not None:
                records = iter_array_typed(reader, element_type)
            else:
                records = iter_array(reader)
            for record in records:
                count += 1
                yield record
    except ImportRejected:
        raise
    except NotAnArray as error:
        raise ImportRejected(
            f"{member.name}: {error}; Spotify history files are JSON lists of plays. The file may be truncated "
            "or not from Spotify: download the export again",
            reason="bad_json",
            member=member.name,
        ) from None
    except JsonStreamError as error:
        where = f"after record {count}" if count else "before the first record"
        raise ImportRejected(
            f"{member.name} is not valid JSON ({where}: {str(error)[:160]}); the file is truncated or corrupted, "
            "download the export from Spotify again",
            reason="bad_json",
            member=member.name,
            record=error.element,
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ImportRejected(
            f"{member.name} cannot be unpacked ({str(error)[:80]}); the ZIP is truncated or corrupted, download "
            "the export from Spotify again",
            reason="bad_zip",
            member=member.name,
            record=count + 1,
        ) from None
    except RuntimeError as error:  # zipfile: "File ... is encrypted, password required"
        raise ImportRejected(
            f"{member.name} cannot be read ({str(error)[:80]}); upload an unencrypted export",
            reason="encrypted_member",
            member=member.name,
        ) from None
    plan.members_done += 1


def _checked_start(reader: _CountingReader, member: Member) -> Prefixed:
    """ijson yields nothing for a top-level object: check for `[` first."""
    while True:
        chunk = reader.read(1)
        if chunk in (b" ", b"\t", b"\r", b"\n"):
            continue
        if chunk == b"\xef":  # UTF-8 byte-order mark
            reader.read(2)
            continue
        break
    if chunk != b"[":
        raise NotAnArray("the file is empty" if not chunk else "the file is not a JSON list", element=0)
    return Prefixed(chunk, reader)
