"""Parse in a process of its own while this one COPYs: the two cores each do half of an import.

An import's Python work is reading and normalising records (~3.5 µs per record) and handing rows to COPY
(~1 µs); in one process the two share the GIL, so parsing and loading took turns. Here a child process runs a
pipeline's producer (`produce(put, stop, *args, **kwargs)`: reads the file, normalises, cuts batches) and sends each
message pickled through a bounded `multiprocessing.Queue`; the importing process only unpickles a batch and
COPYs it. Memory stays flat: at most `QUEUE_DEPTH` batches wait in the queue, one is being built in the child
and one is being loaded.

The child comes from a fork server (`forkserver`, not `fork`: the importing process runs an event loop and
threads, which a plain fork would copy mid-flight), with the import modules preloaded, so starting one costs
a few milliseconds after the first. It is a daemon: it ends with the importing process. An error in the child
is sent as a `Failed` message (`ImportRejected` as is, anything else with its traceback as a note); a child
that ends without a last message (killed) is reported by `get`. `stop()` asks the child to end, waits for it
and kills it if it does not end promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import pickle
import queue
import resource
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from typing import Any, Final

from ingest.imports.results import ImportProgress
from ingest.imports.tuning import GC_THRESHOLD_DURING_IMPORT

QUEUE_DEPTH: Final = 2
_POLL_SECONDS: Final = 0.5
_STOP_GRACE_SECONDS: Final = 5.0

_CONTEXT: Final = multiprocessing.get_context("forkserver")
# What every child needs, imported once in the fork server rather than in each child.
_CONTEXT.set_forkserver_preload(["ingest.imports.producers"])


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
    cpu_seconds: float = 0.0  # of the child, filled in by `_child_main`
    peak_rss_mb: float = 0.0


@dataclass(frozen=True, slots=True)
class Failed:
    error: BaseException


type Message = Plan | Batch | Done | Failed
type Put = Callable[[Message], bool]
type Produce = Callable[..., None]


def _sendable(error: BaseException) -> BaseException:
    """`error` if it survives pickling; else a RuntimeError naming it. Either way with the child's traceback
    as a note (the importing process re-raises it, and its own traceback would end at the queue)."""
    from ingest.imports.errors import ImportRejected

    if not isinstance(error, ImportRejected):
        error.add_note("in the parsing process:\n" + "".join(traceback.format_exception(error)))
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    except Exception:
        substitute = RuntimeError(f"{type(error).__name__}: {error}")
        substitute.__notes__ = list(getattr(error, "__notes__", []))
        return substitute
    return error


def _child_main(produce: Produce, args: tuple[Any, ...], kwargs: dict[str, Any], messages: Any, stop: Event) -> None:
    # This process holds one batch and the parser's state: collections are nearly pure overhead here.
    gc.set_threshold(GC_THRESHOLD_DURING_IMPORT)

    def put(message: Message) -> bool:
        if isinstance(message, Done):
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu, rss = time.process_time(), usage.ru_maxrss / 1024
            message = Done(message.skipped, message.skip_details, message.records, message.bytes_read, cpu, rss)
        # Pickled here rather than by the queue's feeder thread, which would only print a pickling error.
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        while not stop.is_set():
            try:
                messages.put(data, timeout=_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    try:
        produce(put, stop, *args, **kwargs)
    except BaseException as error:  # handed to the importing process, which ends the job with it
        put(Failed(_sendable(error)))
    finally:
        if stop.is_set():  # nobody reads what is still buffered: do not wait to flush it at exit
            messages.cancel_join_thread()


class ParseProcess:
    """One import's producer, running in a child process; the importing process reads its messages."""

    def __init__(
        self, produce: Produce, args: tuple[Any, ...], *, kwargs: dict[str, Any] | None = None, name: str
    ) -> None:
        self._messages = _CONTEXT.Queue(maxsize=QUEUE_DEPTH)
        self._stop = _CONTEXT.Event()
        self._process = _CONTEXT.Process(
            target=_child_main, args=(produce, args, kwargs or {}, self._messages, self._stop), name=name, daemon=True
        )
        self.exitcode: int | None = None  # once stopped: 0 when the child ended by itself, negative when killed

    def start(self) -> None:
        self._process.start()

    def _get(self, timeout: float) -> Message | None:
        try:
            data = self._messages.get(timeout=timeout)
        except queue.Empty:
            return None
        # Written by our own child process through a private pipe: no one else can put data there.
        message: Message = pickle.loads(data)  # noqa: S301
        return message

    async def get(self, timeout: float) -> Message:  # noqa: ASYNC109 (a poll, not a deadline on the caller)
        """The next message; TimeoutError after `timeout` seconds without one; RuntimeError if the child
        ended without its last message (killed, out of memory)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            message = await asyncio.to_thread(self._get, min(remaining, _POLL_SECONDS))
            if message is not None:
                return message
            if not self._process.is_alive() and self._messages.empty():
                raise RuntimeError(
                    f"the parsing process of the import ended unexpectedly (exit code {self._process.exitcode}); "
                    "see the worker's log, then retry the import"
                )

    async def stop(self) -> None:
        """Ask the child to end; wait for it (killed if it does not end within a few seconds)."""
        self._stop.set()
        if self._process.pid is not None:  # started
            await asyncio.to_thread(self._process.join, _STOP_GRACE_SECONDS)
            if self._process.is_alive():
                self._process.kill()
                await asyncio.to_thread(self._process.join)
            self.exitcode = self._process.exitcode
            self._process.close()
        self._messages.close()
        with contextlib.suppress(Exception):
            self._messages.join_thread()
