"""Client-side request pacing, one limiter per (tenant, endpoint), shared by all threads.

Netskope limits requests per endpoint (4/s documented) and answers bursts with 429. Pacing on
the client keeps a process from tripping the limit at all, however many threads (one per log
type, or several hooks on the same tenant) pull at once. The Airflow pool bounds concurrency
across processes; see docs/hook.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces requests at least ``1/rate`` seconds apart (burst 1), first come first served.

    Each caller reserves the next free slot under a lock and sleeps outside it, so threads queue
    fairly and never spin. :meth:`hold_until` pushes the next slot back when the server says
    to wait (``Retry-After``, ``RateLimit-Reset``), which then applies to every thread.
    """

    def __init__(
        self,
        rate_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._next_slot = 0.0
        self.set_rate(rate_per_second)

    @property
    def rate_per_second(self) -> float:
        return 1.0 / self._interval

    def set_rate(self, rate_per_second: float) -> None:
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be > 0, got {rate_per_second!r}")
        with self._lock:
            self._interval = 1.0 / rate_per_second

    def acquire(self) -> float:
        """Block until this caller may send; return the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay

    def hold_until(self, monotonic_deadline: float) -> None:
        """No request on this endpoint before ``monotonic_deadline`` (server-imposed pause)."""
        with self._lock:
            self._next_slot = max(self._next_slot, monotonic_deadline)


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(key: str, rate_per_second: float) -> RateLimiter:
    """Return the process-wide limiter for ``key`` (tenant + endpoint), creating it on first use.

    A later caller asking for a different rate re-tunes the shared limiter: the most recent
    configuration wins, so one endpoint never runs two budgets side by side.
    """
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = RateLimiter(rate_per_second)
        elif limiter.rate_per_second != rate_per_second:
            limiter.set_rate(rate_per_second)
        return limiter
