"""Import preview (`spotify-mcp import --dry-run`, `ingest.imports.preview`): says what an import would do and
writes nothing (issue 21)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.main import main
from core.crypto import generate_key
from core.dburl import libpq_url
from core.settings import Settings
from ingest.imports.errors import ImportRejected
from ingest.imports.preview import ImportPreview, preview_import
from ingest.imports.worker import process_pending_imports
from tests.conftest import ADMIN_TOKEN
from tests.fixtures import exports
from tests.fixtures.exports import scrobbles as sx
from tests.fixtures.exports.helpers import create_user, fetch, queue_zip

_TABLES = """
SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
WHERE table_schema IN ('app', 'raw') AND table_type = 'BASE TABLE' ORDER BY 1
"""


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    names = [row["name"] for row in await fetch(engine, _TABLES)]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = (await fetch(engine, f"SELECT count(*) AS n FROM {name}"))[0]["n"]
    return counts


def _by_source(preview: ImportPreview) -> dict[str, tuple[int, int, int]]:
    return {source.source: (source.new, source.known, source.repeated) for source in preview.sources}


async def test_preview_of_a_spotify_export_before_and_after_importing_it(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    user = await create_user(engine)
    path = exports.extended_export(tmp_path / "my_spotify_data.zip")
    before = await _counts(engine)

    preview = await preview_import(engine, settings, path, user_id=user)

    assert await _counts(engine) == before
    assert preview.format_detected == "streaming_history" and preview.times_are == "end"
    # The importer's own figures for this export (test_import_formats): 11 records, 9 new, 1 repeated, 1 skipped.
    assert preview.records == 11 and _by_source(preview) == {"spotify_export": (9, 0, 1)}
    assert preview.skipped == {"no_item": 1}
    assert [file.name.rsplit("/", 1)[-1] for file in preview.files] == [
        "Streaming_History_Audio_2023_0.json",
        "Streaming_History_Audio_2024.json",
        "Streaming_History_Video_2023.json",
    ]
    assert sum(file.records for file in preview.files) == 11
    assert preview.files[0].format == "extended_audio"
    assert preview.earliest is not None and preview.latest is not None
    assert f"{preview.earliest:%Y-%m-%d}" == "2023-01-01" and f"{preview.latest:%Y-%m-%d}" == "2024-03-01"
    assert preview.ignored  # the PDF beside the history

    await queue_zip(engine, user, path)
    await process_pending_imports(engine, settings, worker_id="test")
    again = await preview_import(engine, settings, path, user_id=user)
    assert _by_source(again) == {"spotify_export": (0, 9, 1)}


async def test_preview_of_scrobbles_counts_what_another_source_already_brought(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    user = await create_user(engine)
    weeks = [(f"2023-03-0{day}T20:00:00", "Artist", "Album", f"Track {day}") for day in range(1, 8)]
    lb = sx.listenbrainz_zip(tmp_path / "lb.zip", {"2023/3": [sx.listen(at, track=t) for at, _, _, t in weeks[:5]]})
    await queue_zip(engine, user, lb)
    await process_pending_imports(engine, settings, worker_id="test")
    csv_path = tmp_path / "scrobbles-alice-1.csv"
    csv_path.write_text(sx.lastfm_csv([*weeks, weeks[0], (0, "A", "B", "C")]))
    before = await _counts(engine)

    preview = await preview_import(engine, settings, csv_path, user_id=user)

    assert await _counts(engine) == before
    assert preview.format_detected == "lastfm" and preview.times_are == "start"
    assert _by_source(preview) == {"lastfm": (2, 5, 1)}
    assert preview.skipped == {"out_of_range": 1}
    assert preview.skip_details == [
        "scrobbles-alice-1.csv, record 9: `uts` '0' is before 2002, when scrobbling began; skipped"
    ]
    assert [(file.name, file.format, file.records, file.skipped) for file in preview.files] == [
        ("scrobbles-alice-1.csv", "lastfm_csv", 9, 1)
    ]
    # Nothing stored for a user yet: everything is new.
    fresh = await preview_import(engine, settings, csv_path, user_id=None)
    assert _by_source(fresh) == {"lastfm": (7, 0, 1)}


async def test_preview_refuses_what_the_import_refuses(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text(json.dumps([{"title": "shopping", "items": ["milk"]}]))
    before = await _counts(engine)
    with pytest.raises(ImportRejected) as refused:
        await preview_import(engine, settings, path, user_id=None)
    assert "notes.json is a JSON file this importer does not recognise" in refused.value.message
    all_bad = tmp_path / "scrobbles-a-1.csv"
    all_bad.write_text(sx.lastfm_csv([(0, "A", "B", "C")]))
    with pytest.raises(ImportRejected) as refused:
        await preview_import(engine, settings, all_bad, user_id=None)
    assert refused.value.reason == "nothing_readable" and "none of the 1 records" in refused.value.message
    empty = exports.build_zip(tmp_path / "empty.zip", {"Streaming_History_Audio_2023_0.json": []})
    with pytest.raises(ImportRejected) as refused:
        await preview_import(engine, settings, empty, user_id=None)
    assert refused.value.reason == "empty_export"
    assert await _counts(engine) == before


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in {
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SPOTIFY_MCP_HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(name, value)
    return database_url


def _all_counts(url: str) -> dict[str, int]:
    with psycopg.connect(libpq_url(url)) as connection:
        names = [row[0] for row in connection.execute(_TABLES).fetchall()]
        return {name: connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in names}  # type: ignore[index]


def test_cli_dry_run_prints_the_preview_and_writes_nothing(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sx.listenbrainz_zip(
        tmp_path / "listenbrainz_alice.zip",
        {"2023/1": [sx.listen("2023-01-01T10:00:00"), sx.listen("2023-01-02T10:00:00", artist=None)]},
    )
    before = _all_counts(cli_env)
    assert main(["import", "--dry-run", str(path)]) == 0
    out = capsys.readouterr().out
    assert _all_counts(cli_env) == before and before["app.users"] == 0  # not even the local user is created
    assert "for a new local user (nothing stored yet)" in out
    assert "ListenBrainz: 1 new · 0 already known · 0 repeated in the file" in out

    assert main(["import", str(path), "--no-progress"]) == 0
    capsys.readouterr()
    before = _all_counts(cli_env)
    assert main(["import", "--dry-run", str(path)]) == 0
    out = capsys.readouterr().out
    assert _all_counts(cli_env) == before
    assert "dry run: listenbrainz_alice.zip for user `local`; nothing was written" in out
    assert "format: listenbrainz; 1 file(s) read, 2 other file(s) ignored" in out
    assert "listens/2023/1.jsonl" in out and "listenbrainz_jsonl" in out and "2 records, 1 skipped" in out
    assert "listens from 2023-01-01 to 2023-01-01 (UTC, by the start of each)" in out
    assert "ListenBrainz: 0 new · 1 already known · 0 repeated in the file" in out
    assert "would skip: no_item 1" in out and "record 2: no artist name" in out

    assert main(["import", "--dry-run", "--json", str(path)]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["user"] == "local" and as_json["format_detected"] == "listenbrainz"
    assert as_json["sources"] == [
        {"source": "listenbrainz", "new": 0, "known": 1, "repeated": 0, "in_spotify_history": 0}
    ]
    assert as_json["earliest"] == "2023-01-01T10:00:00+00:00" and as_json["skipped"] == {"no_item": 1}
    assert _all_counts(cli_env) == before

    refused = tmp_path / "budget.csv"
    refused.write_text("date,amount\n2023-01-01,3\n")
    assert main(["import", "--dry-run", str(refused)]) == 1
    assert "budget.csv would not be imported: budget.csv is a CSV this importer does not recognise" in (
        capsys.readouterr().err
    )
    assert _all_counts(cli_env) == before


async def test_preview_says_how_many_scrobbles_are_already_in_the_spotify_history(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    user = await create_user(engine)
    # Spotify: three listens of a 200 s track, ending 200 s after each hour.
    spotify = exports.build_zip(
        tmp_path / "my_spotify_data.zip",
        {
            "Streaming_History_Audio_2023_0.json": [
                exports.extended(f"2023-01-01T{hour}:03:20Z", 200_000) for hour in ("10", "11", "12")
            ]
        },
    )
    await queue_zip(engine, user, spotify)
    await process_pending_imports(engine, settings, worker_id="test")
    lb = sx.listenbrainz_zip(
        tmp_path / "lb.zip",
        {
            "2023/1": [
                sx.listen("2023-01-01T10:00:00"),  # same Spotify id, end within the length: the same listen
                sx.listen("2023-01-01T11:00:00", spotify_id=None, duration_ms=None, artist="ARTIST"),  # by names
                sx.listen("2023-01-01T12:00:00", spotify_id=None, track="Another song"),  # another track
                sx.listen("2023-01-01T15:00:00"),  # no Spotify listen then
            ]
        },
    )
    before = await _counts(engine)

    preview = await preview_import(engine, settings, lb, user_id=user)

    assert await _counts(engine) == before
    [source] = preview.sources
    assert (source.source, source.new, source.known, source.in_spotify_history) == ("listenbrainz", 4, 0, 2)
    spotify_preview = await preview_import(engine, settings, spotify, user_id=user)
    assert spotify_preview.sources[0].in_spotify_history is None  # only asked of scrobbles
