"""Hostile and broken exports: each ends its job as `error` with a message naming the file/record and what to
do, keeps nothing of itself, and disturbs nothing else (another user's rows, the next job in the queue)."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports import archive, jobs
from ingest.imports.errors import ImportRejected
from ingest.imports.normalize import ExtendedPlay
from ingest.imports.worker import execute_job, process_pending_imports
from tests.fixtures import exports
from tests.fixtures.exports import build_zip, extended
from tests.fixtures.exports.helpers import create_user, fetch, job_row, queue_zip, run_row, with_overrides

AUDIO = "Spotify Extended Streaming History/Streaming_History_Audio_2023_0.json"
RATIO_MIN = archive.RATIO_MIN_SIZE


def _good_records(count: int) -> list[dict[str, object]]:
    return [
        extended(f"2023-02-{1 + n // 1440:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00Z", 60_000 + n) for n in range(count)
    ]


def _zip_with_info(path: Path, info: zipfile.ZipInfo, content: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(AUDIO, json.dumps([extended("2023-01-01T00:00:00Z", 1)]))
        zf.writestr(info, content)
    return path


def too_large(path: Path) -> Path:
    # Stored (not deflated) random bytes beside the history: the ZIP itself exceeds 1 MB.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(AUDIO, json.dumps([extended("2023-01-01T00:00:00Z", 1)]))
        zf.writestr("photo.jpg", os.urandom(1_200_000))
    return path


def bomb(path: Path) -> Path:
    # 30 MB of whitespace inside a valid JSON list deflates ~1000x.
    return build_zip(path, {AUDIO: b"[" + b" " * 30_000_000 + b"]"})


def lying_bomb(path: Path, *, size: int = 15_000_000, declared_ratio: int = 50) -> Path:
    """Issue 16.12: a bomb built to pass every check on what the ZIP declares. Its deflate data (~1000x) is
    followed by junk, and its directory entry counts the junk as compressed data, so the declared ratio is
    modest, nothing overlaps, and the file is large enough for its declared content: only the bytes actually
    inflated per compressed byte read give it away."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(AUDIO, b"[" + b" " * size + b"]")
        info = zf.getinfo(AUDIO)
        padding = -(-(size + 2) // declared_ratio) - info.compress_size
        assert zf.fp is not None
        zf.fp.write(os.urandom(padding))  # between the member's data and the central directory
        zf.start_dir += padding  # where zipfile writes the directory
        info.compress_size += padding
    with zipfile.ZipFile(path) as zf:
        declared = zf.getinfo(AUDIO)
        assert declared.file_size == size + 2 and declared.file_size <= declared_ratio * declared.compress_size
    return path


def many_small_bombs(path: Path) -> Path:
    """Issue 16.12: each member is 1 MB of nothing (too small to be judged by its own ratio); together they
    inflate ~1000x the ZIP."""
    members = {f"Streaming_History_Audio_{n}.json": b"[" + b" " * (RATIO_MIN - 10) + b"]" for n in range(40)}
    return build_zip(path, members)


def dotdot(path: Path) -> Path:
    return build_zip(path, {AUDIO: [extended("2023-01-01T00:00:00Z", 1)], "../../etc/cron.d/evil.json": []})


def absolute(path: Path) -> Path:
    return build_zip(path, {"/etc/Streaming_History_Audio_2023.json": [extended("2023-01-01T00:00:00Z", 1)]})


def symlink(path: Path) -> Path:
    info = zipfile.ZipInfo("Streaming_History_Audio_link.json")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip_with_info(path, info, b"/etc/passwd")


def encrypted(path: Path) -> Path:
    """Set the "encrypted" flag of a member, in its local header and the central directory (as zip -e does)."""
    name = b"Streaming_History_Audio_2024.json"
    build_zip(
        path, {AUDIO: [extended("2023-01-01T00:00:00Z", 1)], name.decode(): [extended("2024-01-01T00:00:00Z", 1)]}
    )
    data = bytearray(path.read_bytes())
    for signature, flag_offset, name_offset in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + name_offset : start + name_offset + len(name)] == name:
                data[start + flag_offset] |= 0x1
            start += 4
    path.write_bytes(bytes(data))
    return path


def truncated_zip(path: Path) -> Path:
    exports.extended_export(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupt_deflate(path: Path) -> Path:
    """A member whose deflate stream turns invalid ~200 KB in: the inflater (`archive.open_member`) raises
    mid-member, and the job names the member."""
    text = json.dumps(_good_records(500)).encode()
    # What is declared but lost stays small: the ZIP must not look like a bomb (100x its size) by its directory.
    return exports.broken_deflate_zip(path, AUDIO, text[:200_000], text[200_000:220_000])


def not_json(path: Path) -> Path:
    return build_zip(path, {AUDIO: b"<html>Service unavailable</html>"})


def truncated_json(path: Path) -> Path:
    text = json.dumps([extended("2023-01-01T00:00:00Z", 1), extended("2023-01-01T00:05:00Z", 2)])
    return build_zip(path, {AUDIO: text[: len(text) - 40]})


def wrong_type(path: Path) -> Path:
    bad = extended("2023-01-01T00:05:00Z", 2)
    bad["ms_played"] = "lots"
    return build_zip(path, {AUDIO: [extended("2023-01-01T00:00:00Z", 1), bad]})


def wrong_type_ts(path: Path) -> Path:
    bad = extended("2023-01-01T00:05:00Z", 2)
    bad["ts"] = 1672531500
    return build_zip(path, {AUDIO: [bad]})


def unknown_format(path: Path) -> Path:
    return build_zip(path, {"MyData/StreamingHistory0.json": [{"songTitle": "x", "played": 3}]})


def not_a_list(path: Path) -> Path:
    return build_zip(path, {"MyData/StreamingHistory_music_0.json": {"plays": []}})


def only_other_files(path: Path) -> Path:
    return build_zip(path, {"Userdata.json": {"x": 1}, "Read_Me_First.pdf": exports.FAKE_PDF})


def empty_export(path: Path) -> Path:
    return build_zip(path, {AUDIO: [], "Spotify Extended Streaming History/Streaming_History_Video_2023.json": []})


def not_a_zip(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.4 this is a PDF, not a zip")
    return path


CASES: list[tuple[str, Callable[[Path], Path], str, tuple[str, ...]]] = [
    ("zip_too_large", too_large, "zip_too_large", ("MB", "IMPORT_MAX_ZIP_SIZE_MB")),
    ("zip_bomb", bomb, "zip_bomb", (AUDIO, "zip bomb")),
    ("lying_bomb", lying_bomb, "zip_bomb", (AUDIO, "inflates more than 100x", "zip bomb")),
    ("many_small_bombs", many_small_bombs, "zip_bomb", ("40 JSON files unpack to", "more than 100x", "zip bomb")),
    ("dotdot", dotdot, "unsafe_member", ("../../etc/cron.d/evil.json", "unsafe path")),
    ("absolute", absolute, "unsafe_member", ("/etc/Streaming_History_Audio_2023.json",)),
    ("symlink", symlink, "symlink_member", ("Streaming_History_Audio_link.json", "symbolic link")),
    ("encrypted", encrypted, "encrypted_member", ("Streaming_History_Audio_2024.json", "encrypted")),
    ("truncated_zip", truncated_zip, "bad_zip", ("not a readable ZIP", "download the export")),
    ("not_a_zip", not_a_zip, "bad_zip", ("not a readable ZIP",)),
    ("corrupt_deflate", corrupt_deflate, "bad_zip", (AUDIO, "cannot be unpacked", "download the export")),
    ("not_json", not_json, "bad_json", (AUDIO, "not a JSON list")),
    ("truncated_json", truncated_json, "bad_json", (AUDIO, "truncated", "after record 1")),
    ("wrong_type", wrong_type, "bad_field", (AUDIO, "record 2", "`ms_played`", "'lots'")),
    ("wrong_type_ts", wrong_type_ts, "bad_field", (AUDIO, "record 1", "`ts`")),
    ("unknown_format", unknown_format, "unknown_format", ("StreamingHistory0.json", "record 1", "songTitle")),
    ("not_a_list", not_a_list, "bad_json", ("StreamingHistory_music_0.json", "not a JSON list")),
    ("no_history", only_other_files, "no_history", ("no Spotify streaming history", "Read_Me_First.pdf")),
    ("empty_export", empty_export, "empty_export", ("no plays",)),
]


@pytest.mark.parametrize(("label", "make", "reason", "fragments"), CASES, ids=[case[0] for case in CASES])
async def test_hostile_export_is_rejected_and_disturbs_nothing(
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
    label: str,
    make: Callable[[Path], Path],
    reason: str,
    fragments: tuple[str, ...],
) -> None:
    settings = with_overrides(settings, IMPORT_MAX_ZIP_SIZE_MB="1")
    bystander = await create_user(engine, "bystander")
    await queue_zip(engine, bystander, exports.endsong_export(tmp_path / "bystander.zip"))
    await process_pending_imports(engine, settings, worker_id="w")
    before = await fetch(engine, "SELECT id, record_key FROM raw.export_records ORDER BY id")
    assert len(before) == 3

    victim = await create_user(engine, "victim")
    hostile = await queue_zip(engine, victim, make(tmp_path / f"{label}.zip"))
    later_user = await create_user(engine, "later")
    later = await queue_zip(engine, later_user, exports.account_export(tmp_path / "later.zip"))

    inserted = await process_pending_imports(engine, settings, worker_id="w")  # does not raise

    job = await job_row(engine, hostile)
    assert job["status"] == "error"
    for fragment in fragments:
        assert fragment in job["error_message"], job["error_message"]
    assert job["records_ingested"] == 0
    run = await run_row(engine, job["job_run_id"])
    assert run["status"] == "error" and run["stats"]["reason"] == reason
    assert run["error_message"] == job["error_message"]
    assert await fetch(engine, "SELECT 1 FROM raw.export_records WHERE user_id = :u", u=victim) == []
    # The bystander's rows are untouched and the job queued after the hostile one ran.
    assert (
        await fetch(engine, "SELECT id, record_key FROM raw.export_records WHERE user_id = :u ORDER BY id", u=bystander)
        == before
    )
    assert (await job_row(engine, later))["status"] == "success" and inserted == 4


async def test_records_cap_rolls_back_committed_batches(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    capped = with_overrides(settings, IMPORT_MAX_RECORDS="250", IMPORT_BATCH_SIZE="100")
    user = await create_user(engine)
    path = build_zip(tmp_path / "big.zip", {AUDIO: _good_records(300)})
    job_id = await queue_zip(engine, user, path)
    progress_seen: list[int] = []

    # Two batches are committed (and visible) before the 251st record trips the cap.
    job = await jobs.claim_job(engine, worker_id="w", only_id=job_id)
    assert job is not None
    outcome = await execute_job(engine, capped, job, progress_callback=lambda p: progress_seen.append(p.inserted))

    assert outcome.status == "error"
    assert [inserted for inserted in progress_seen if inserted] == [100, 200]  # committed before the failure
    row = await job_row(engine, job_id)
    assert "more than 250 records" in row["error_message"] and "record 251" in row["error_message"]
    assert "nothing was kept" in row["error_message"]
    assert await fetch(engine, "SELECT 1 FROM raw.export_records") == []
    assert (await run_row(engine, row["job_run_id"]))["stats"]["rolled_back"] == 200


async def test_total_uncompressed_cap(
    engine: AsyncEngine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "UNCOMPRESSED_FACTOR", 0.001)  # 1 MB cap → ~1 KB of history allowed
    small = with_overrides(settings, IMPORT_MAX_ZIP_SIZE_MB="1")
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, build_zip(tmp_path / "x.zip", {AUDIO: _good_records(20)}))
    await process_pending_imports(engine, small, worker_id="w")
    row = await job_row(engine, job_id)
    assert row["status"] == "error" and "unpack to more than" in row["error_message"]


async def test_member_inflating_beyond_its_header_is_stopped(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    path = build_zip(tmp_path / "lying.zip", {AUDIO: _good_records(50)})
    # Rewrite the central directory's uncompressed size of the member to something smaller than the truth.
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(AUDIO)
        real = info.file_size
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    size_at = central + 24
    assert int.from_bytes(data[size_at : size_at + 4], "little") == real
    data[size_at : size_at + 4] = (real // 2).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    user = await create_user(engine)
    job_id = await queue_zip(engine, user, path)
    await process_pending_imports(engine, settings, worker_id="w")
    row = await job_row(engine, job_id)
    assert row["status"] == "error"
    assert AUDIO in row["error_message"]
    assert await fetch(engine, "SELECT 1 FROM raw.export_records") == []


def test_a_bomb_with_a_lying_header_is_stopped_after_a_few_megabytes(tmp_path: Path) -> None:
    """Issue 16.12: a small ZIP that inflates to gigabytes cost half a minute of CPU before it was refused.
    The running ratio stops it after a bounded number of inflated bytes, whatever the member's size."""
    size = 200_000_000
    path = lying_bomb(tmp_path / "bomb.zip", size=size)
    max_zip_bytes = 500 * 1024 * 1024
    with archive.open_archive(path, max_zip_bytes=max_zip_bytes) as zf:
        plan = archive.plan_archive(zf, max_zip_bytes=max_zip_bytes)  # the declared sizes pass every check
        assert plan.total_uncompressed == size + 2
        with pytest.raises(ImportRejected) as caught:
            for _ in archive.iter_member_records(zf, plan.members[0], plan, element_type=ExtendedPlay):
                pass
    assert caught.value.reason == "zip_bomb" and "inflates more than 100x" in caught.value.message
    # zipfile reads compressed data ahead by at most one read's worth; the ratio then trips within
    # MAX_COMPRESSION_RATIO x that read-ahead (~7 MB), not at the member's 200 MB.
    assert plan.bytes_read < 8 * 1024 * 1024, plan.bytes_read


def test_many_small_members_are_refused_before_anything_is_inflated(tmp_path: Path) -> None:
    path = many_small_bombs(tmp_path / "small-bombs.zip")
    max_zip_bytes = 500 * 1024 * 1024
    with archive.open_archive(path, max_zip_bytes=max_zip_bytes) as zf:
        with pytest.raises(ImportRejected) as caught:
            archive.plan_archive(zf, max_zip_bytes=max_zip_bytes)
        read = zf.meter.bytes_read
    assert caught.value.reason == "zip_bomb"
    # Only the central directory was read: not one member's data (each member's ~1 KB of deflate data).
    with zipfile.ZipFile(path) as zf:
        first_data = min(info.header_offset for info in zf.infolist()) + 30
        directory = path.stat().st_size - max(info.header_offset + info.compress_size for info in zf.infolist())
    assert first_data > 0 and read <= directory + 100, (read, directory)


def test_honest_members_of_any_ratio_below_the_cap_are_read_whole(tmp_path: Path) -> None:
    """The running ratio is judged on what was read, so an ordinary export (8-15x) is never stopped."""
    records = _good_records(40_000)  # ~14 MB of JSON, deflates ~10x
    path = build_zip(tmp_path / "honest.zip", {AUDIO: records})
    max_zip_bytes = 500 * 1024 * 1024
    with archive.open_archive(path, max_zip_bytes=max_zip_bytes) as zf:
        plan = archive.plan_archive(zf, max_zip_bytes=max_zip_bytes)
        count = sum(1 for _ in archive.iter_member_records(zf, plan.members[0], plan, element_type=ExtendedPlay))
    assert count == 40_000 and plan.bytes_read == plan.total_uncompressed
