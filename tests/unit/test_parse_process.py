"""The parse process (`ingest.imports.parse_process`): messages arrive in order, an error in the child reaches
the importing process with its message, a child that dies says so, and stopping ends a child that is blocked."""

from __future__ import annotations

import asyncio
import os
from multiprocessing.synchronize import Event

import pytest

from ingest.imports.errors import ImportRejected
from ingest.imports.parse_process import Batch, Done, Failed, ParseProcess, Put


def _three_batches(put: Put, stop: Event, rows: int) -> None:
    for n in range(3):
        put(Batch([(n, "x" * rows)], records=n + 1, bytes_read=10 * (n + 1), files_done=n))
    put(Done({"no_item": 2}, ["file.json, record 4: no item"], 5, 30))


def _rejects(put: Put, stop: Event) -> None:
    raise ImportRejected("file.json, record 7: no ts; fix it", reason="bad_field", member="file.json", record=7)


def _dies(put: Put, stop: Event) -> None:
    os._exit(3)


def _blocks(put: Put, stop: Event) -> None:
    while put(Batch([(0,)], records=1, bytes_read=1, files_done=0)):  # fills the queue, then waits for room
        pass


def test_batches_and_done_arrive_in_order_with_the_childs_figures() -> None:
    async def run() -> list[object]:
        process = ParseProcess(_three_batches, (5,), name="test-parse")
        process.start()
        try:
            return [await process.get(timeout=30) for _ in range(4)]
        finally:
            await process.stop()

    messages = asyncio.run(run())
    assert [message.rows for message in messages[:3] if isinstance(message, Batch)] == [
        [(0, "xxxxx")],
        [(1, "xxxxx")],
        [(2, "xxxxx")],
    ]
    done = messages[3]
    assert isinstance(done, Done) and (done.skipped, done.records, done.bytes_read) == ({"no_item": 2}, 5, 30)
    assert done.cpu_seconds > 0 and done.peak_rss_mb > 0  # filled in by the child for the benchmarks


def test_an_import_error_in_the_child_arrives_whole() -> None:
    async def run() -> object:
        process = ParseProcess(_rejects, (), name="test-parse")
        process.start()
        try:
            return await process.get(timeout=30)
        finally:
            await process.stop()

    failed = asyncio.run(run())
    assert isinstance(failed, Failed) and isinstance(failed.error, ImportRejected)
    error = failed.error
    assert (str(error), error.reason, error.member, error.record) == (
        "file.json, record 7: no ts; fix it",
        "bad_field",
        "file.json",
        7,
    )


def test_a_child_that_dies_is_reported_not_waited_for() -> None:
    async def run() -> None:
        process = ParseProcess(_dies, (), name="test-parse")
        process.start()
        try:
            await process.get(timeout=30)
        finally:
            await process.stop()

    with pytest.raises(RuntimeError, match=r"parsing process .* ended unexpectedly \(exit code 3\)"):
        asyncio.run(run())


def test_stopping_ends_a_child_blocked_on_a_full_queue() -> None:
    async def run() -> int | None:
        process = ParseProcess(_blocks, (), name="test-parse")
        process.start()
        assert isinstance(await process.get(timeout=30), Batch)
        await process.stop()
        return process.exitcode

    assert asyncio.run(run()) == 0  # it saw the stop and ended by itself (killed would be negative)
