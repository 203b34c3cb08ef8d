"""The scale benchmark's generator (bench/skewed_exports.py): the same exports whether one process or several
write them, and the plays shared over users as asked (figures of bench/README.md were measured on its files)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from bench.skewed_exports import generate, plays_per_user


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_several_processes_write_the_same_exports_as_one(tmp_path: Path) -> None:
    one = generate(tmp_path / "one", plays=3_000, users=5)
    two = generate(tmp_path / "two", plays=3_000, users=5, jobs=2)
    assert [entry["records"] for entry in one] == [entry["records"] for entry in two]
    for entry in one:
        assert _members(tmp_path / "one" / entry["zip"]) == _members(tmp_path / "two" / entry["zip"])
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert [entry["user"] for entry in manifest["exports"]] == [0, 1, 2, 3, 4]


def test_plays_are_shared_over_users_heaviest_first_and_sum_exactly() -> None:
    counts = plays_per_user(10_000_000, 100, 0.8)
    assert sum(counts) == 10_000_000
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > 20 * counts[-1]  # skewed: the heaviest user listens far more than the lightest
