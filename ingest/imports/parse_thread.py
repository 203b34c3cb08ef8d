"""Parse on a thread while the event loop COPYs: the producer side of both pipelines and what it sends.

A pipeline's producer (`producers`: `produce(put, stop, *args, **kwargs)`) reads the file, normalises the
records and cuts batches on a thread of its own; each message goes through a small bounded asyncio queue to
the event loop, which lands it (`loader.land`). Memory stays flat: at most `QUEUE_DEPTH` batches wait, one is
being built and one is being loaded. An error on the thread is sent as a `Failed` message; `stop()` asks the
producer to end (it looks at `stop` at least every 1,024 records and while waiting for room in the queue) and
waits for it.

Why a thread, not a process (measured, bench/README.md "Issue 22, session 3"): with parsing in a child process
each row must cross a process boundary, and every encoding tried costs more than the GIL contention it removes
— pickling ~2.2 µs per row in the child (plus unpickling here), CSV for `COPY … FORMAT csv` ~3.8 µs — against
~4.6 µs for reading and normalising the record itself. On two cores that work is paid from the same CPU that
PostgreSQL needs: with the process the importer's CPU per record rose from 7.3–7.5 µs to 12.3 µs, and the
import ran 1.4–2.4x slower than main's in the same session.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from ingest.imports.results import ImportProgress

QUEUE_DEPTH: Final = 2
_POLL_SECONDS: Final = 0.5


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Plan:
    progress: ImportProgress
    files: list[str]
    ignored: int


@dataclass(frozen=True, slots=True)
class Batch:
    rows: Sequence[tuple[Any, ...]]
    records: int  # records read so far (skipped ones included)
    bytes_read: int
    files_done: int


@dataclass(frozen=True, slots=True)
class Done:
    skipped: dict[str, int]
    skip_details: list[str]
    records: int
    bytes_read: int


@dataclass(frozen=True, slots=True)
class Failed:
    error: BaseException


type Message = Plan | Batch | Done | Failed
type Put = Callable[[Message], bool]
type Produce = Callable[..., None]


class ParseThread:
    """One import's producer on a thread; the event loop reads its messages (`get`)."""

    def __init__(
        self, produce: Produce, args: tuple[Any, ...], *, kwargs: dict[str, Any] | None = None, name: str
    ) -> None:
        self._produce = produce
        self._args = args
        self._kwargs = kwargs or {}
        self._stop = threading.Event()
        self._queue: asyncio.Queue[Message] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start producing (from the event loop that will `get` the messages)."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=QUEUE_DEPTH)
        self._thread.start()

    def _put(self, message: Message) -> bool:
        assert self._loop is not None and self._queue is not None
        future = asyncio.run_coroutine_threadsafe(self._queue.put(message), self._loop)
        while True:
            try:
                future.result(timeout=_POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                if self._stop.is_set():
                    future.cancel()
                    return False
                continue
            return True

    def _run(self) -> None:
        try:
            self._produce(self._put, self._stop, *self._args, **self._kwargs)
        except BaseException as error:  # handed to the loader, which ends the job with it
            self._put(Failed(error))

    async def get(self, timeout: float) -> Message:  # noqa: ASYNC109 (a poll for heartbeats, not a deadline)
        """The next message; TimeoutError after `timeout` seconds without one."""
        assert self._queue is not None
        return await asyncio.wait_for(self._queue.get(), timeout=timeout)

    async def stop(self) -> None:
        """Ask the producer to end and wait for its thread."""
        self._stop.set()
        if self._thread.ident is not None:  # started
            await asyncio.to_thread(self._thread.join)
