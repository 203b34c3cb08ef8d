"""Retry and rate-limit policy: exponential backoff with full jitter on 5xx and timeouts; 429 honours
`Retry-After` but never sleeps longer than `max_inline_wait` inside a job (longer waits are rescheduled).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    # Attempts in total for one call that meets 5xx answers or timeouts.
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After up to this many seconds is slept; longer ones raise `RateLimited`.
    max_inline_wait: float = 60.0
    # How many 429s one call may sleep through before giving up ("excessive 429s").
    max_rate_limit_retries: int = 3
    # Retry-After when Spotify sends none.
    default_retry_after: float = 1.0

    def backoff(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """Delay before retry number `attempt` (1-based): full jitter over an exponential cap."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or _RNG).uniform(cap / 2, cap)


_RNG = random.Random()


@dataclass(slots=True)
class CallStats:
    """Counters of one client's calls; jobs copy them into `job_runs.stats`."""

    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    server_errors: int = 0
    slept_seconds: float = 0.0
    by_endpoint: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int | float]:
        return {
            "requests": self.requests,
            "rate_limits": self.rate_limited,
            "retries": self.retries,
            "server_errors": self.server_errors,
            "slept_seconds": round(self.slept_seconds, 3),
        }


def parse_retry_after(value: str | None, default: float) -> float:
    """Seconds from a `Retry-After` header (Spotify sends seconds); unknown or bad values give `default`."""
    if value is None:
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        return default
    return max(0.0, seconds)
