"""Client-side pacing: the limiter's schedule, and one shared budget for all threads of a process."""

from __future__ import annotations

import threading

import pytest
from scripted_tenant import ScriptedTenant, ok

from netskope_provider.api.client import NetskopeClient
from netskope_provider.api.ratelimit import RateLimiter, shared_limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_requests_are_spaced_one_interval_apart():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits == [0.0, 0.25, 0.25, 0.25, 0.25]


def test_idle_time_is_not_saved_up_as_a_burst():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 10
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.25, 0.25]


def test_hold_until_pauses_the_endpoint_for_everyone():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.hold_until(clock.now + 3)
    assert limiter.acquire() == 3.0
    assert limiter.acquire() == 0.25


def test_rate_must_be_positive():
    with pytest.raises(ValueError, match="must be > 0"):
        RateLimiter(0)


def test_shared_limiter_is_one_per_key_and_follows_the_latest_rate():
    first = shared_limiter("https://t.goskope.com/api/v2/events/data/x", 4)
    again = shared_limiter("https://t.goskope.com/api/v2/events/data/x", 2)
    other = shared_limiter("https://t.goskope.com/api/v2/events/data/y", 4)
    assert first is again and first is not other
    assert first.rate_per_second == 2


def test_threads_of_two_clients_share_one_budget_per_endpoint():
    """24 requests (a page and a count query per pull) from 4 threads over two clients of the same tenant:
    never faster than 8/s in total."""
    rate = 8.0
    with ScriptedTenant(lambda seen: ok([])) as tenant:
        clients = [
            NetskopeClient(tenant.host, lambda refresh: "tok-abcdef", scheme="http", rate_limit_per_second=rate)
            for _ in range(2)
        ]

        def pull(client: NetskopeClient) -> None:
            for _ in range(3):
                list(client.iter_window_pages("audit", 1_700_000_000, 1_700_000_060))

        threads = [threading.Thread(target=pull, args=(clients[i % 2],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    arrivals = sorted(seen.at for seen in tenant.seen)
    assert len(arrivals) == 24
    # Sent at least 1/rate apart; arrival jitter on loopback is far below the 10% margin.
    assert arrivals[-1] - arrivals[0] >= 23 / rate * 0.9
