"""Back-off for failed sign-ins, per client address (the admin UI's login, the OAuth password sign-in).

A few mistakes are free; after that each further failure doubles the wait before the next attempt is even
checked (2 s, 4 s, 8 s … up to 15 minutes), so guessing a credential costs days instead of seconds while a
person who mistyped waits seconds. While an address waits, its attempts are refused without looking at the
credential — the right one included. A success clears the address; an address quiet for an hour is forgotten.
Kept in the process's memory (one process per service here), bounded in size.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 10
FIRST_WAIT_SECONDS = 2.0
MAX_WAIT_SECONDS = 15 * 60.0
FORGET_AFTER_SECONDS = 3600.0
MAX_TRACKED = 10_000


@dataclass(slots=True)
class _Failures:
    count: int
    last_at: float


class FailureThrottle:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def _current(self, key: str) -> _Failures | None:
        found = self._failures.get(key)
        if found is not None and self.clock() - found.last_at > FORGET_AFTER_SECONDS:
            del self._failures[key]
            return None
        return found

    def wait_seconds(self, key: str) -> int:
        """Whole seconds `key` must wait before its next attempt is checked (0: go ahead)."""
        found = self._current(key)
        if found is None or found.count < FREE_FAILURES:
            return 0
        wait: float = min(FIRST_WAIT_SECONDS * 2.0 ** (found.count - FREE_FAILURES), MAX_WAIT_SECONDS)
        remaining = found.last_at + wait - self.clock()
        return max(0, math.ceil(remaining))

    def failed(self, key: str) -> None:
        found = self._current(key)
        self._failures[key] = _Failures((found.count if found else 0) + 1, self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
