"""The overlapped import pipeline (parse on a thread, one transaction per batch, each batch COPYed straight in
or landed set-based through the staging table): a failure after batches of both kinds were committed keeps
nothing, and progress reports files N of M and records the way it did."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from ingest.imports import jobs, pipeline
from ingest.imports.pipeline import ImportProgress
from ingest.imports.worker import execute_job
from tests.fixtures.exports import build_zip, extended
from tests.fixtures.exports.helpers import create_user, fetch, job_row, queue_zip, run_row, with_overrides
from tests.integration.test_import_lifecycle import AUDIO


def _plays(day: int, count: int, *, offset: int = 0) -> list[dict[str, object]]:
    return [
        extended(f"2024-05-{day:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00Z", 100_000 + n)
        for n in range(offset, offset + count)
    ]


def _snapshot(progress: ImportProgress) -> tuple[int, int, int, int, int, float]:
    return (
        progress.files_done,
        progress.files_total,
        progress.records_read,
        progress.inserted,
        progress.duplicates,
        progress.fraction,
    )


async def test_a_bad_record_after_direct_and_staged_batches_keeps_nothing(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    small = with_overrides(settings, IMPORT_BATCH_SIZE="100")
    user = await create_user(engine)
    bystander = await create_user(engine, "bob")
    # Another user's rows in the same time range: their keys are not this user's, the import's first batches
    # still go straight in, and a failure leaves them alone.
    await queue_zip(engine, bystander, build_zip(tmp_path / "b.zip", {AUDIO.format("2024"): _plays(1, 50)}))
    first = await jobs.claim_job(engine, worker_id="w")
    assert first is not None and (await execute_job(engine, settings, first)).status == "success"
    bystander_rows = await fetch(engine, "SELECT id, record_key FROM raw.export_records ORDER BY id")

    bad = _plays(3, 150)
    bad[120]["ms_played"] = "a lot"  # record 121 of the third file, after its first batch was committed
    path = build_zip(
        tmp_path / "export.zip",
        {
            AUDIO.format("2024_0"): _plays(1, 250),  # new plays: COPYed straight in
            AUDIO.format("2024_1"): _plays(1, 150, offset=200),  # 50 plays of the first file again: staged
            AUDIO.format("2024_2"): bad,
        },
    )
    job_id = await queue_zip(engine, user, path)
    job = await jobs.claim_job(engine, worker_id="w", only_id=job_id)
    assert job is not None
    seen: list[tuple[int, int, int, int, int, float]] = []

    outcome = await execute_job(engine, small, job, progress_callback=lambda progress: seen.append(_snapshot(progress)))

    assert outcome.status == "error"
    batches = [entry for entry in seen if entry[1]]
    assert batches, "progress was reported"
    assert {entry[1] for entry in batches} == {3}  # files N of M: M is the number of history files
    assert [entry[0] for entry in batches] == sorted(entry[0] for entry in batches)
    inserted = [entry[3] for entry in batches]
    assert inserted == sorted(inserted) and inserted[-1] == 250 + 100 + 100  # the last committed batch
    assert batches[-1][4] == 50  # the repeated plays were counted as duplicates (the staged path ran)
    row = await job_row(engine, job_id)
    assert row["status"] == "error" and row["records_ingested"] == 0
    assert "Streaming_History_Audio_2024_2.json, record 121" in row["error_message"]
    assert "ms_played" in row["error_message"]
    stats = (await run_row(engine, row["job_run_id"]))["stats"]
    assert stats["rolled_back"] == inserted[-1]
    assert await fetch(engine, "SELECT 1 FROM raw.export_records WHERE user_id = :u", u=user) == []
    assert await fetch(engine, "SELECT id, record_key FROM raw.export_records ORDER BY id") == bystander_rows
    # Nothing is left behind on the connection either: the pool's next import lands normally.
    retry = await queue_zip(engine, user, build_zip(tmp_path / "ok.zip", {AUDIO.format("2024"): _plays(1, 250)}))
    job = await jobs.claim_job(engine, worker_id="w", only_id=retry)
    assert job is not None and (await execute_job(engine, small, job)).inserted == 250


async def test_progress_reports_files_and_records_while_batches_commit(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    small = with_overrides(settings, IMPORT_BATCH_SIZE="100")
    user = await create_user(engine)
    members = {AUDIO.format(f"2024_{n}"): _plays(1 + n, 230) for n in range(4)}
    members[AUDIO.format("2024_4")] = _plays(1, 230)  # the first file again: every record a duplicate
    job_id = await queue_zip(engine, user, build_zip(tmp_path / "export.zip", members))
    job = await jobs.claim_job(engine, worker_id="w", only_id=job_id)
    assert job is not None
    seen: list[tuple[int, int, int, int, int, float]] = []

    outcome = await execute_job(engine, small, job, progress_callback=lambda progress: seen.append(_snapshot(progress)))

    assert outcome.status == "success" and outcome.inserted == 4 * 230
    reported = [entry for entry in seen if entry[1]]
    assert {entry[1] for entry in reported} == {5}
    files_done = [entry[0] for entry in reported]
    assert files_done == sorted(files_done) and files_done[0] < 5 and files_done[-1] == 5
    for key in (2, 3, 5):  # records read, inserted, fraction of the bytes: never backwards
        values = [entry[key] for entry in reported]
        assert values == sorted(values)
    assert reported[-1][2:6] == (5 * 230, 4 * 230, 230, 1.0)
    row = await job_row(engine, job_id)
    assert row["records_ingested"] == 4 * 230 and row["records_total"] == 5 * 230
    stats = (await run_row(engine, row["job_run_id"]))["stats"]
    assert (stats["files_processed"], stats["inserted"], stats["duplicates"]) == (5, 920, 230)
    # 1,150 rows in batches of 100: the nine batches of new plays go straight in; the three that hold the last
    # file's plays (all stored already) are staged.
    assert (stats["batches_direct"], stats["batches_staged"]) == (9, 3)


async def test_a_key_landed_behind_the_probe_is_retried_through_the_staging_table(
    engine: AsyncEngine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer landing the same keys between the probe and the COPY (simulated: a probe that never sees
    stored keys) costs the batch one retry through the staging table, not the import."""
    small = with_overrides(settings, IMPORT_BATCH_SIZE="100")
    user = await create_user(engine)
    path = build_zip(tmp_path / "export.zip", {AUDIO.format("2024"): _plays(1, 250)})
    await queue_zip(engine, user, path)
    first = await jobs.claim_job(engine, worker_id="w")
    assert first is not None and (await execute_job(engine, small, first)).inserted == 250
    before = await fetch(engine, "SELECT id, record_key FROM raw.export_records ORDER BY id")
    monkeypatch.setattr(
        pipeline,
        "_LOCK_USER_AND_PROBE",
        "SELECT EXISTS (SELECT 1 FROM app.users WHERE id = $1 FOR KEY SHARE) AS user_exists, "
        "$2::text IS NULL AND $3::text IS NULL AS keys_taken",
    )

    again = await queue_zip(engine, user, path)
    job = await jobs.claim_job(engine, worker_id="w", only_id=again)
    assert job is not None
    outcome = await execute_job(engine, small, job)

    assert outcome.status == "success" and outcome.inserted == 0
    assert await fetch(engine, "SELECT id, record_key FROM raw.export_records ORDER BY id") == before
    stats = (await run_row(engine, (await job_row(engine, again))["job_run_id"]))["stats"]
    assert (stats["duplicates"], stats["batches_direct"], stats["batches_staged"]) == (250, 0, 3)
