"""What a file to import holds: a Spotify export (the ZIP importer), or ListenBrainz / Last.fm scrobbles.

`detect` decides by content (a ZIP's members are looked at as `archive` does; a file that is not a ZIP by its
first bytes), never by the name alone: an upload is stored under a generated name. A ZIP holding both Spotify
history and scrobbles is refused (import them one at a time: each job has one source and one summary). A
file that is none of these is refused with what was recognised and what was expected.

`ScrobbleSource` opens the files of a scrobble import with the Spotify importer's protections: the size cap
(IMPORT_MAX_ZIP_SIZE_MB), unsafe member names, symbolic links, encrypted members and zip bombs (declared sizes
and ratios checked before anything is inflated, inflated bytes counted while reading: `archive`).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from ingest.imports.archive import (
    UNPACK_ERRORS,
    ArchivePlan,
    CountingReader,
    MeteredZip,
    check_declared_total,
    check_member_safe,
    check_member_size,
    open_archive,
    open_member,
    plan_archive,
)
from ingest.imports.errors import ImportRejected
from ingest.imports.formats import EXPECTED_NAMES, basename, classify_member, is_junk
from ingest.imports.jsonstream import Reader
from ingest.imports.scrobble_formats import EXPECTED_SCROBBLES, LISTENBRAINZ_SIDE_FILES, ScrobbleKind, kind_of

_ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06")
_PEEK_BYTES: Final = 64 * 1024
_SCROBBLE_SUFFIXES: Final = (".json", ".jsonl", ".csv")
_DIGITS: Final = re.compile(r"(\d+)")

type Detected = Literal["spotify", "scrobbles"]


def is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) in _ZIP_MAGIC


def _check_size(path: Path, name: str, max_bytes: int) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImportRejected(
            f"the file {name} is gone (it was moved or deleted before the import ran); upload it again",
            reason="missing_file",
        ) from None
    if size > max_bytes:
        raise ImportRejected(
            f"{name} is {size / 1e6:.1f} MB, more than the limit of {max_bytes / 1e6:.0f} MB "
            "(IMPORT_MAX_ZIP_SIZE_MB); split the export or raise the limit",
            reason="zip_too_large",
        )
    return size


@dataclass(frozen=True, slots=True)
class ScrobbleFile:
    name: str  # the member's name, or the file's own name
    kind: ScrobbleKind
    size: int  # uncompressed
    info: zipfile.ZipInfo | None = field(default=None, compare=False, repr=False)  # None: the file itself


def _peek(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(info) as raw:
            return raw.read(_PEEK_BYTES)
    except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError, OSError, ValueError) as error:
        raise ImportRejected(
            f"{info.filename} cannot be unpacked ({str(error)[:80]}); the ZIP is truncated or corrupted, export "
            "it again",
            reason="bad_zip",
            member=info.filename,
        ) from None


def _natural(name: str) -> list[str | int]:
    """Sort key of a file name with its numbers compared as numbers."""
    return [int(part) if part.isdecimal() else part for part in _DIGITS.split(name)]


def _scrobble_members(archive: MeteredZip, max_zip_bytes: int) -> tuple[list[ScrobbleFile], list[str], int]:
    """The scrobble files of a ZIP (after the safety checks), the other files, and the inflate cap."""
    entries: list[zipfile.ZipInfo] = []
    ignored: list[str] = []
    for info in archive.infolist():
        check_member_safe(info)
        if info.is_dir():
            continue
        lowered = info.filename.lower()
        if lowered.endswith(_SCROBBLE_SUFFIXES) and not is_junk(info.filename):
            entries.append(info)
        else:
            ignored.append(info.filename)
    all_json = all(info.filename.lower().endswith(".json") for info in entries)
    max_total = check_declared_total(
        archive, entries, max_zip_bytes=max_zip_bytes, what="JSON files" if all_json else "data files"
    )
    files: list[ScrobbleFile] = []
    for info in entries:
        if basename(info.filename).lower() in LISTENBRAINZ_SIDE_FILES or info.flag_bits & 0x1:
            ignored.append(info.filename)  # user.json / feedback.jsonl are not read; encrypted: not ours to open
            continue
        check_member_size(info)
        kind = kind_of(info.filename, _peek(archive, info))
        if kind is None:
            ignored.append(info.filename)
            continue
        files.append(ScrobbleFile(info.filename, kind, info.file_size, info))
    # In natural order (`listens/2023/2.jsonl` before `listens/2023/10.jsonl`): ListenBrainz's month files then
    # come in time order, so each batch's key range is free and lands by direct COPY (`loader`).
    files.sort(key=lambda item: (_natural(item.name), item.info.header_offset if item.info else 0))
    return files, ignored, max_total


def _has_spotify_history(archive: MeteredZip, max_zip_bytes: int) -> bool:
    if not any(
        classify_member(info.filename) or info.filename.lower().endswith(".json") for info in archive.infolist()
    ):
        return False
    try:
        plan_archive(archive, max_zip_bytes=max_zip_bytes)
    except ImportRejected as rejected:
        if rejected.reason == "no_history":
            return False
        raise
    return True


def _not_recognised(name: str, head: bytes) -> ImportRejected:
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:60].decode("utf-8", "replace").split("\n", 1)[0]
    lowered = name.lower()
    if lowered.endswith(".json") and classify_member(name) is not None:
        return ImportRejected(
            f"{name} is one file of a Spotify export; upload the whole ZIP that Spotify sent (it holds every "
            "history file and nothing is lost)",
            reason="unknown_format",
        )
    if lowered.endswith(".zip"):
        return ImportRejected(
            f"{name} is not a readable ZIP file (it may be truncated by an interrupted download, or not a ZIP at "
            "all); download the export again and upload the .zip file unchanged",
            reason="bad_zip",
        )
    what = "a CSV" if lowered.endswith(".csv") else "a JSON file" if lowered.endswith((".json", ".jsonl")) else "a file"
    return ImportRejected(
        f"{name} is {what} this importer does not recognise (it starts with {first!r}). Recognised: a Spotify "
        f"export ZIP ({EXPECTED_NAMES}); {EXPECTED_SCROBBLES}",
        reason="unknown_format",
    )


def detect(path: Path, *, name: str, max_bytes: int) -> Detected:
    """`spotify` (the ZIP importer reads it, and says what is wrong if it is not an export) or `scrobbles`;
    raises `ImportRejected` for a file that is neither."""
    _check_size(path, name, max_bytes)
    if is_zip(path):
        with open_archive(path, max_zip_bytes=max_bytes, name=name) as archive:
            files, _, _ = _scrobble_members(archive, max_bytes)
            if not files:
                return "spotify"
            if _has_spotify_history(archive, max_bytes):
                raise ImportRejected(
                    f"{name} holds both Spotify streaming history and scrobbles ({files[0].name}); import them one "
                    "at a time (one ZIP each)",
                    reason="mixed_sources",
                )
            return "scrobbles"
    with path.open("rb") as handle:
        head = handle.read(_PEEK_BYTES)
    if kind_of(name, head) is None:
        raise _not_recognised(name, head)
    return "scrobbles"


class ScrobbleSource:
    """The scrobble files of one import, opened safely. Use as a context manager."""

    def __init__(self, path: Path, *, name: str, max_bytes: int) -> None:
        self._path = path
        self._name = name
        self._max_bytes = max_bytes
        self._stack = ExitStack()
        self._archive: MeteredZip | None = None
        self._plan: ArchivePlan | None = None
        self.files: list[ScrobbleFile] = []
        self.ignored: list[str] = []
        self.total = 0
        self._bare_read = 0

    def __enter__(self) -> ScrobbleSource:
        size = _check_size(self._path, self._name, self._max_bytes)
        try:
            if is_zip(self._path):
                archive = self._stack.enter_context(
                    open_archive(self._path, max_zip_bytes=self._max_bytes, name=self._name)
                )
                self._archive = archive
                self.files, self.ignored, max_total = _scrobble_members(archive, self._max_bytes)
                if not self.files:
                    raise _not_recognised(self._name, b"")
                self.total = sum(item.size for item in self.files)
                self._plan = ArchivePlan(
                    members=[], ignored=self.ignored, total_uncompressed=self.total, max_uncompressed=max_total
                )
            else:
                with self._path.open("rb") as handle:
                    head = handle.read(_PEEK_BYTES)
                kind = kind_of(self._name, head)
                if kind is None:
                    raise _not_recognised(self._name, head)
                self.files = [ScrobbleFile(self._name, kind, size)]
                self.total = size
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def bytes_read(self) -> int:
        return self._plan.bytes_read if self._plan is not None else self._bare_read

    @contextmanager
    def open(self, item: ScrobbleFile) -> Iterator[Reader]:
        if item.info is None:
            with self._path.open("rb") as handle:
                yield _BareReader(handle, self)
            return
        assert self._archive is not None and self._plan is not None
        reader: CountingReader | None = None
        try:
            with open_member(self._archive, item.info) as raw:
                reader = CountingReader(raw, item.info, self._plan, self._archive.meter)
                yield reader
        except UNPACK_ERRORS as error:
            raise ImportRejected(
                f"{item.name} cannot be unpacked ({str(error)[:80]}); the ZIP is truncated or corrupted, export it "
                "again",
                reason="bad_zip",
                member=item.name,
            ) from None
        finally:
            if reader is not None:
                self._plan.compressed_read += reader.compressed
            self._plan.members_done += 1

    @property
    def files_done(self) -> int:
        return self._plan.members_done if self._plan is not None else 0


class _BareReader:
    def __init__(self, handle: Reader, source: ScrobbleSource) -> None:
        self._handle = handle
        self._source = source

    def read(self, size: int = -1, /) -> bytes:
        data = self._handle.read(size)
        self._source._bare_read += len(data)
        return data
