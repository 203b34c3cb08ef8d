"""The collector's long-lived transform process (transform.worker): runs go to one child that keeps dbt's parsed
project between them, a stop request interrupts its run (and ends it), and the next run starts a new child. Real
processes, real dbt, real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from core.dburl import libpq_url
from transform.worker import TransformWorker


def _child_of(worker: TransformWorker) -> int | None:
    return worker.pid


def _runs(database_url: str) -> list[tuple[str, str, dict[str, Any]]]:
    with psycopg.connect(libpq_url(database_url)) as connection:
        found = connection.execute(
            "select status, worker_id, stats from app.job_runs where job_type = 'transform' order by id"
        ).fetchall()
    return [(str(status), str(worker), dict(stats or {})) for status, worker, stats in found]


async def test_runs_share_one_child_that_keeps_the_parsed_project(database_url: str) -> None:
    worker = TransformWorker(database_url)
    try:
        assert await worker.run() == "success"
        child = worker.pid
        assert child is not None
        assert await worker.run() == "success"
        assert worker.pid == child
    finally:
        await worker.close()
    assert _child_of(worker) is None
    (first_status, first_worker, first), (second_status, second_worker, second) = _runs(database_url)
    assert (first_status, second_status) == ("success", "success")
    assert first_worker == second_worker and first_worker.endswith(f":{child}")
    # The first run parsed the project (its cluster-marts step reused that parse); the second parsed nothing, and
    # with no taste clusters refitted and the project unchanged it had no cluster marts to build.
    assert first["dbt"]["manifest_reused"] is False and first["dbt_downstream"]["manifest_reused"] is True
    assert second["dbt"]["manifest_reused"] is True and "skipped" in second["dbt_downstream"]
    # The project's files are unchanged since the first run: its unit tests (fixed rows) are not run again.
    assert first["dbt"]["unit_tests"] > 0 and second["dbt"]["unit_tests"] == 0


async def test_a_stop_interrupts_the_run_and_the_next_run_starts_a_new_child(database_url: str) -> None:
    worker = TransformWorker(database_url)
    stop = asyncio.Event()
    try:
        running = asyncio.create_task(worker.run(stop=stop))
        while not await asyncio.to_thread(lambda: any(run[0] == "running" for run in _runs(database_url))):
            assert not running.done(), "the transform ended before it was stopped"
            await asyncio.sleep(0.1)
        stopped = worker.pid
        stop.set()
        async with asyncio.timeout(120):  # only a bound against a hang
            assert await running == "interrupted"
        assert _child_of(worker) is None  # the child ended with its interrupted run
        assert await worker.run() == "success"
        assert worker.pid not in (None, stopped)
    finally:
        await worker.close()
    # `abandoned` when, on a loaded machine, the child took longer than STOP_GRACE_SECONDS to record it and was
    # killed; the next run marked it so.
    assert [run[0] for run in _runs(database_url)] in (["interrupted", "success"], ["abandoned", "success"])
