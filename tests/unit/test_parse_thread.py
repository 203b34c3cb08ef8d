"""The parse thread (`ingest.imports.parse_thread`): messages arrive in order, an error on the thread reaches the
event loop as a `Failed` message, and stopping ends a producer that waits for room in the full queue."""

from __future__ import annotations

import asyncio
import threading

from ingest.imports.errors import ImportRejected
from ingest.imports.parse_thread import Batch, Done, Failed, Message, ParseThread, Put, StopFlag


def _three_batches(put: Put, stop: StopFlag, width: int) -> None:
    for n in range(3):
        put(Batch([(n, "x" * width)], records=n + 1, bytes_read=10 * (n + 1), files_done=n))
    put(Done({"no_item": 2}, ["file.json, record 4: no item"], 5, 30))


def _rejects(put: Put, stop: StopFlag) -> None:
    raise ImportRejected("file.json, record 7: no ts; fix it", reason="bad_field", member="file.json", record=7)


def test_batches_and_done_arrive_in_order() -> None:
    async def run() -> list[Message]:
        producer = ParseThread(_three_batches, (5,), name="test-parse")
        producer.start()
        try:
            return [await producer.get(timeout=30) for _ in range(4)]
        finally:
            await producer.stop()

    messages = asyncio.run(run())
    assert [message.rows for message in messages[:3] if isinstance(message, Batch)] == [
        [(0, "xxxxx")],
        [(1, "xxxxx")],
        [(2, "xxxxx")],
    ]
    done = messages[3]
    assert isinstance(done, Done) and (done.skipped, done.records, done.bytes_read) == ({"no_item": 2}, 5, 30)


def test_an_error_on_the_thread_arrives_as_a_message() -> None:
    async def run() -> Message:
        producer = ParseThread(_rejects, (), name="test-parse")
        producer.start()
        try:
            return await producer.get(timeout=30)
        finally:
            await producer.stop()

    failed = asyncio.run(run())
    assert isinstance(failed, Failed) and isinstance(failed.error, ImportRejected)
    assert (str(failed.error), failed.error.reason, failed.error.record) == (
        "file.json, record 7: no ts; fix it",
        "bad_field",
        7,
    )


def test_stopping_ends_a_producer_waiting_for_room_in_the_queue() -> None:
    puts: list[bool] = []

    def blocks(put: Put, stop: StopFlag) -> None:
        while True:  # the queue holds two: the third put waits until the stop
            accepted = put(Batch([(0,)], records=1, bytes_read=1, files_done=0))
            puts.append(accepted)
            if not accepted:
                return

    async def run() -> None:
        producer = ParseThread(blocks, (), name="test-parse")
        producer.start()
        assert isinstance(await producer.get(timeout=30), Batch)
        await producer.stop()

    asyncio.run(run())
    assert puts[-1] is False and all(puts[:-1])  # the waiting put gave up when asked to stop
    assert not [thread for thread in threading.enumerate() if thread.name == "test-parse"]
