"""Open an export ZIP, refuse hostile or broken ones, and stream the records of its history members.

Checks before a single record is read (each failure is an `ImportRejected` with a message for a person):
file size (IMPORT_MAX_ZIP_SIZE_MB), a readable central directory (truncated/not a ZIP), member names with
`..` or absolute paths, symlinks, encrypted history members, the declared uncompressed size of the history
members (each, and all together) and their declared compression ratio (zip bombs), and that there is any
history at all. Which members are history, and of which format, is told by their first record's keys
(`formats.kind_from_keys`; the name is a hint): a look at the first 64 KB of every `.json` member.

Zip bombs: the whole ZIP may unpack to at most `MAX_COMPRESSION_RATIO` times its own size (what its
directory declares is checked before anything is inflated: many small members, each too small for a ratio of
its own, are caught too), and to at most `UNCOMPRESSED_FACTOR` x IMPORT_MAX_ZIP_SIZE_MB. While reading, the
headers are not trusted: the bytes actually inflated are counted against those caps and the running ratio of
inflated to compressed bytes (compressed bytes as read from the file, counted by `_MeteredFile`), per member
and for the whole import, stops the import as soon as it passes the cap — a bomb whose header lies about its
sizes costs a few MB of inflating, not gigabytes. JSON is parsed as a stream (`jsonstream`) (never a whole
file in memory), and broken JSON is reported with its file and position. Members are opened by their
directory entry, not by name, so two members of the same name are both read.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, cast

from isal import isal_zlib

from ingest.imports.errors import ImportRejected
from ingest.imports.formats import EXPECTED_NAMES, MemberKind, classify_member, kind_from_keys, may_be_history
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
# One history member may unpack to at most this much (Spotify's files are 10-15 MB).
MAX_MEMBER_BYTES: Final = 1 << 30
# Inflated bytes asked of zipfile per read. zipfile reads as many compressed bytes ahead as it is asked to
# produce, and the ratio can only count what was read: small reads keep that slack (and so the bytes a
# bomb may inflate before it is stopped) small, ~MAX_COMPRESSION_RATIO x this.
_INFLATE_CHUNK: Final = 64 * 1024
_READ_CHUNK: Final = 256 * 1024
# How much of a `.json` member is read to see its first record's keys (a record is < 2 KB, even indented).
_PEEK_BYTES: Final = 8 * 1024


class _MeteredFile:
    """The ZIP file as zipfile reads it, counting the bytes read (the compressed data of the members)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.name = getattr(raw, "name", None)
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.bytes_read += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()


class MeteredZip(zipfile.ZipFile):
    """A ZipFile over a `_MeteredFile`: `meter.bytes_read` is how much of the file has been read."""

    def __init__(self, path: Path) -> None:
        self.meter = _MeteredFile(path.open("rb"))
        self.file_size = path.stat().st_size
        try:
            super().__init__(self.meter)
        except BaseException:
            self.meter.close()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.meter.close()


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    kind: MemberKind
    compressed_size: int
    file_size: int
    # The directory entry: a ZIP may hold two members of the same name, and opening by name reads the last.
    info: zipfile.ZipInfo = field(compare=False, repr=False)


@dataclass(slots=True)
class ArchivePlan:
    members: list[Member]
    ignored: list[str]
    total_uncompressed: int
    # The most the history may inflate to: UNCOMPRESSED_FACTOR x the ZIP cap, and MAX_COMPRESSION_RATIO x the ZIP.
    max_uncompressed: int
    bytes_read: int = 0  # inflated
    compressed_read: int = 0  # compressed bytes read for the members finished so far
    members_done: int = field(default=0)


def _unsafe_name(name: str) -> bool:
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return True
    return any(part == ".." for part in normalized.split("/"))


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def open_archive(path: Path, *, max_zip_bytes: int, name: str | None = None) -> MeteredZip:
    """`name`: the file as the person named it (an upload is stored under a generated name)."""
    name = name or path.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImportRejected(
            f"the file {name} is gone (it was moved or deleted before the import ran); upload it again",
            reason="missing_file",
        ) from None
    if size > max_zip_bytes:
        raise ImportRejected(
            f"{name} is {size / 1e6:.1f} MB, more than the limit of {max_zip_bytes / 1e6:.0f} MB "
            "(IMPORT_MAX_ZIP_SIZE_MB); split the export or raise the limit",
            reason="zip_too_large",
        )
    try:
        return MeteredZip(path)
    except zipfile.BadZipFile, EOFError, OSError:
        raise ImportRejected(
            f"{name} is not a readable ZIP file (it may be truncated by an interrupted download, or not a "
            "ZIP at all); download the export again (from Spotify, or ListenBrainz) and upload the .zip file unchanged",
            reason="bad_zip",
        ) from None


class _Empty:
    def read(self, size: int = -1, /) -> bytes:
        return b""


_EMPTY: Final = _Empty()


def _first_record_keys(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[object] | None:
    """The keys of the member's first record, from its first 64 KB; None when that does not tell (not a JSON
    list of objects, an empty list, a first record longer than that, a member that cannot be unpacked)."""
    try:
        with archive.open(info) as raw:
            head = raw.read(_PEEK_BYTES)
        first = next(iter_array(Prefixed(head, _EMPTY)), None)
    except JsonStreamError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, OSError:
        return None
    return list(first) if isinstance(first, dict) else None


def _bomb(message: str, member: str | None = None) -> ImportRejected:
    return ImportRejected(
        f"{message}: refused as a possible zip bomb; use the original export", reason="zip_bomb", member=member
    )


def check_member_safe(info: zipfile.ZipInfo) -> None:
    """Refuse a member with an absolute or `..` path, or a symbolic link."""
    if _unsafe_name(info.filename):
        raise ImportRejected(
            f"the ZIP contains a member with an unsafe path ({info.filename!r}: absolute or with `..`); "
            "this is not an export as a service produces it, use the original file",
            reason="unsafe_member",
            member=info.filename,
        )
    if _is_symlink(info):
        raise ImportRejected(
            f"the ZIP contains a symbolic link ({info.filename}); exports never do, use the original file",
            reason="symlink_member",
            member=info.filename,
        )


def check_declared_total(
    archive: MeteredZip, entries: list[zipfile.ZipInfo], *, max_zip_bytes: int, what: str = "JSON files"
) -> int:
    """Refuse members that declare more than MAX_COMPRESSION_RATIO x the file's real size, before anything is
    inflated (even the first bytes of each member): also catches many members that are each too small to be
    judged by their own ratio. Returns the most the members may inflate to (`ArchivePlan.max_uncompressed`)."""
    declared = sum(info.file_size for info in entries)
    max_total = MAX_COMPRESSION_RATIO * max(archive.file_size, 1)
    if declared > RATIO_MIN_SIZE and declared > max_total:
        largest = max(entries, key=lambda info: info.file_size)
        raise _bomb(
            f"the ZIP's {len(entries):,} {what} unpack to {declared:,} bytes, {declared / archive.file_size:.0f}x "
            f"its size (more than {MAX_COMPRESSION_RATIO}x; largest: {largest.filename})",
            largest.filename,
        )
    return min(max_total, max_zip_bytes * UNCOMPRESSED_FACTOR)


def check_member_size(info: zipfile.ZipInfo) -> None:
    """Refuse one member whose declared ratio or size makes it a zip bomb."""
    if info.file_size >= RATIO_MIN_SIZE and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise _bomb(
            f"{info.filename} inflates {info.file_size / max(info.compress_size, 1):.0f}x "
            f"(more than {MAX_COMPRESSION_RATIO}x)",
            info.filename,
        )
    if info.file_size > MAX_MEMBER_BYTES:
        raise _bomb(
            f"{info.filename} unpacks to {info.file_size / 1e9:.1f} GB, more than a history file can be "
            f"({MAX_MEMBER_BYTES / 1e9:.1f} GB)",
            info.filename,
        )


def plan_archive(archive: MeteredZip, *, max_zip_bytes: int, name: str | None = None) -> ArchivePlan:
    """Inspect every member; return the history members to read, or raise `ImportRejected`."""
    entries: list[zipfile.ZipInfo] = []
    ignored: list[str] = []
    for info in archive.infolist():
        check_member_safe(info)
        if not info.is_dir() and (classify_member(info.filename) is not None or may_be_history(info.filename)):
            entries.append(info)  # read below (at least its first bytes); other files are never inflated
        elif not info.is_dir():
            ignored.append(info.filename)
    max_total = check_declared_total(archive, entries, max_zip_bytes=max_zip_bytes)
    members: list[Member] = []
    total = 0
    for info in entries:
        hint = classify_member(info.filename)
        encrypted = bool(info.flag_bits & 0x1)
        if hint is None and encrypted:
            ignored.append(info.filename)
            continue
        if encrypted:
            raise ImportRejected(
                f"{info.filename} is encrypted (password-protected ZIP); export it again from Spotify without a "
                "password, or unpack and re-zip it without encryption",
                reason="encrypted_member",
                member=info.filename,
            )
        check_member_size(info)
        kind = kind_from_keys(_first_record_keys(archive, info) or (), hint)
        if kind is None:
            ignored.append(info.filename)
            continue
        total += info.file_size
        if total > max_total:
            raise ImportRejected(
                f"the history files unpack to more than {max_total / 1e9:.1f} GB ({UNCOMPRESSED_FACTOR}x "
                "IMPORT_MAX_ZIP_SIZE_MB): refused as a possible zip bomb; split the export or raise the limit",
                reason="too_large_uncompressed",
                member=info.filename,
            )
        members.append(Member(info.filename, kind, info.compress_size, info.file_size, info))
    if not members:
        found = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        raise ImportRejected(
            f"{name or 'the ZIP'} is not a Spotify export: no Spotify streaming history found in it (looked for "
            f"{EXPECTED_NAMES}; found {found or 'no files at all'}), and no ListenBrainz or Last.fm scrobbles "
            '(listens/*.jsonl, scrobbles-*.csv or .json). Request "Extended streaming history" or '
            '"Account data" at spotify.com/account/privacy and upload that ZIP',
            reason="no_history",
        )
    # By name, then by position in the ZIP (a stable order for members of the same name).
    members.sort(key=lambda member: (member.name, member.info.header_offset))
    return ArchivePlan(members=members, ignored=ignored, total_uncompressed=total, max_uncompressed=max_total)


# What reading a broken member may raise: zipfile's errors, and zlib's or ISA-L's (`open_member`).
# (isal's stub declares its error an instance; it is the class `IsalError`.)
UNPACK_ERRORS: Final[tuple[type[Exception], ...]] = (
    zipfile.BadZipFile,
    zlib.error,
    cast(type[Exception], isal_zlib.error),
    EOFError,
)


def open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    """`archive.open(info)`, inflated by ISA-L (igzip, `isal`) instead of zlib when the member is deflated.

    Why: inflating was ~1 µs of the importer's CPU per record (a Spotify record is ~780 bytes, a ListenBrainz
    listen ~500); igzip produces the same bytes in a fraction of the time (bench/README.md, "Issue 21/22,
    session 4"). Everything else stays zipfile's: it reads the compressed bytes (which `_MeteredFile` counts),
    bounds each call's output and checks the CRC-32 at the end, so the caps and zip-bomb checks of
    `CountingReader` see exactly what they saw before. zipfile has no public way to choose the inflater, so the
    member's `_decompressor` (a `zlib.decompressobj(-15)`, same interface) is replaced before anything is read;
    when a Python version names it differently the member keeps zlib, which is only slower.
    """
    member = archive.open(info)
    if info.compress_type == zipfile.ZIP_DEFLATED and hasattr(member, "_decompressor"):
        member._decompressor = isal_zlib.decompressobj(-15)
    return member


class CountingReader:
    """Counts inflated bytes and stops a member that inflates beyond what its header declared or beyond
    `MAX_MEMBER_BYTES`, an import that inflates beyond its plan's `max_uncompressed`, and either at a running
    ratio above `MAX_COMPRESSION_RATIO` (inflated bytes against the compressed bytes read from the file)."""

    def __init__(
        self, raw: IO[bytes], member: Member | zipfile.ZipInfo, plan: ArchivePlan, meter: _MeteredFile
    ) -> None:
        self._raw = raw
        self._name = member.name if isinstance(member, Member) else member.filename
        self._plan = plan
        self._meter = meter
        # Read after the member was opened: the bytes read from here on are its compressed data.
        self._compressed_start = meter.bytes_read
        self._limit = min(member.file_size, MAX_MEMBER_BYTES)
        self.count = 0

    @property
    def compressed(self) -> int:
        return self._meter.bytes_read - self._compressed_start

    def read(self, size: int = -1) -> bytes:
        wanted = _READ_CHUNK if size < 0 else size
        pieces: list[bytes] = []
        got = 0
        while got < wanted:
            piece = self._raw.read(min(_INFLATE_CHUNK, wanted - got))
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
            self._check(len(piece))
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _check(self, inflated: int) -> None:
        self.count += inflated
        plan = self._plan
        plan.bytes_read += inflated
        name = self._name
        if self.count > self._limit:
            raise _bomb(f"{name} inflates beyond its declared size", name)
        if plan.bytes_read > plan.max_uncompressed:
            raise _bomb(f"the history files inflate to more than {plan.max_uncompressed:,} bytes (at {name})", name)
        if self.count > RATIO_MIN_SIZE or plan.bytes_read > RATIO_MIN_SIZE:
            compressed = self.compressed
            if self.count > RATIO_MIN_SIZE and self.count > MAX_COMPRESSION_RATIO * max(compressed, 1):
                raise _bomb(
                    f"{name} inflates more than {MAX_COMPRESSION_RATIO}x ({self.count:,} bytes from {compressed:,})",
                    name,
                )
            total_compressed = plan.compressed_read + compressed
            if plan.bytes_read > RATIO_MIN_SIZE and plan.bytes_read > MAX_COMPRESSION_RATIO * max(total_compressed, 1):
                raise _bomb(
                    f"the history files inflate more than {MAX_COMPRESSION_RATIO}x ({plan.bytes_read:,} bytes from "
                    f"{total_compressed:,}, at {name})",
                    name,
                )


def iter_member_records(
    archive: MeteredZip,
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
    reader: CountingReader | None = None
    try:
        with open_member(archive, member.info) as raw:
            reader = CountingReader(raw, member, plan, archive.meter)
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
    except UNPACK_ERRORS as error:
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
    finally:
        if reader is not None:
            plan.compressed_read += reader.compressed
    plan.members_done += 1


def _checked_start(reader: CountingReader, member: Member) -> Prefixed:
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
