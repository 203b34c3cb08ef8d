"""Interpreter settings an import wants while it runs in this process (`import_tuning`).

- Rows are tuples, which the cyclic garbage collector tracks; an import keeps up to three batches of them
  alive, so with the default threshold a young collection ran every ~2,000 rows and the old generation was
  rescanned over and over: ~1.3 µs of the importer's ~5 µs per record (bench/README.md). Collections run every
  this many allocations instead; cyclic garbage of other code is still collected, a little later.
- The parsing thread (`parse_thread`) holds the GIL while it works; the event loop thread, woken by
  PostgreSQL's answer (several per batch), waits for the switch interval (5 ms by default) before it gets the
  GIL back, and the server idles meanwhile. A shorter interval keeps PostgreSQL fed (median +20 % records/s in
  an A/B on the loaded machine, same CPU per record).

Both are process-wide: changed when the first import of the process starts, restored after the last ends.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Iterator
from typing import Final

GC_THRESHOLD_DURING_IMPORT: Final = 100_000
_SWITCH_INTERVAL_DURING_IMPORT: Final = 0.0005
_tuning_lock = threading.Lock()
_tuned_imports = 0
_saved_gc_threshold: tuple[int, ...] = ()
_saved_switch_interval = 0.0


@contextlib.contextmanager
def import_tuning() -> Iterator[None]:
    """The collector and the switch interval as an import wants them, while any import of this process runs."""
    global _tuned_imports, _saved_gc_threshold, _saved_switch_interval  # process-wide, shared by imports
    with _tuning_lock:
        if _tuned_imports == 0:
            _saved_gc_threshold = gc.get_threshold()
            _saved_switch_interval = sys.getswitchinterval()
            gc.set_threshold(max(_saved_gc_threshold[0], GC_THRESHOLD_DURING_IMPORT), *_saved_gc_threshold[1:])
            sys.setswitchinterval(min(_saved_switch_interval, _SWITCH_INTERVAL_DURING_IMPORT))
        _tuned_imports += 1
    try:
        yield
    finally:
        with _tuning_lock:
            _tuned_imports -= 1
            if _tuned_imports == 0:
                gc.set_threshold(*_saved_gc_threshold)
                sys.setswitchinterval(_saved_switch_interval)
