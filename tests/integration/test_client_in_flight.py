"""Offset paging with two requests in flight: the next due page is asked while this one is read.

The scripted tenant answers each page request by its offset (ten records ``r<offset+i>``), after a
delay, so the tests see when each request arrived against when the one before it was answered.
"""

from __future__ import annotations

import threading

import pytest
from scripted_tenant import Reply, ScriptedTenant, Seen, counted, decoded, ok

from netskope_provider.api.client import NetskopeClient

START, END = 1_700_000_000, 1_700_003_600
PAGE = 10
DELAY = 0.3


def by_offset(total: int, *, short_once: int | None = None, delay: float = DELAY):
    """Answers for a window of ``total`` records; the page at ``short_once`` is served short the first time."""
    shorted: set[int] = set()
    lock = threading.Lock()

    def reply(seen: Seen) -> Reply:
        offset, limit = int(seen.params["offset"]), int(seen.params["limit"])
        end = min(total, offset + limit)
        with lock:
            if offset == short_once and offset not in shorted:
                shorted.add(offset)
                end = offset + 1
        return Reply(body={"ok": 1, "result": [{"_id": f"r{i}"} for i in range(offset, end)]}, delay=delay)

    return reply


def pull(tenant: ScriptedTenant, **options) -> list[str]:
    client = NetskopeClient(
        tenant.host, lambda refresh: "t0ken-in-flight", scheme="http", rate_limit_per_second=100, page_size=PAGE, **options
    )
    return [record["_id"] for record in decoded(client.iter_window_pages("application", START, END))]


def arrivals(tenant: ScriptedTenant) -> dict[int, float]:
    return {int(seen.params["offset"]): seen.at for seen in tenant.pages_seen}


@pytest.mark.parametrize("in_flight", [1, 2])
def test_the_next_due_page_is_asked_before_this_one_is_answered_and_no_request_is_added(in_flight):
    with ScriptedTenant(by_offset(35)) as tenant:
        tenant.queue_counts(counted(35))
        assert pull(tenant, requests_in_flight=in_flight) == [f"r{i}" for i in range(35)]
    at = arrivals(tenant)
    assert sorted(at) == [0, 10, 20, 30], "one request per page, none beyond the count"
    assert len(tenant.seen) == 5, "the pages and one count"
    assert (at[20] - at[10] < DELAY) == (in_flight == 2), at
    assert (at[30] - at[10] < 2 * DELAY) == (in_flight == 2), at


def test_a_short_page_asked_again_keeps_the_next_page_in_flight():
    with ScriptedTenant(by_offset(30, short_once=10)) as tenant:
        tenant.queue_counts(counted(30))
        assert pull(tenant) == [f"r{i}" for i in range(30)]
    assert [int(seen.params["offset"]) for seen in tenant.pages_seen] == [0, 10, 20, 10]


def test_an_empty_window_and_a_window_within_one_page_ask_nothing_ahead():
    for total, pages in ((0, 1), (7, 1), (10, 1)):
        with ScriptedTenant(by_offset(total, delay=0)) as tenant:
            tenant.queue_counts(counted(total))
            assert pull(tenant) == [f"r{i}" for i in range(total)]
        assert len(tenant.pages_seen) == pages, total


def test_requests_in_flight_must_be_at_least_one():
    with pytest.raises(Exception, match="requests_in_flight must be a finite number at least 1"):
        NetskopeClient("tenant.goskope.com", lambda refresh: "t", requests_in_flight=0)


def test_a_pull_stopped_early_leaves_no_request_thread_behind():
    with ScriptedTenant(by_offset(50, delay=0.1)) as tenant:
        tenant.queue_counts(counted(50))
        client = NetskopeClient(tenant.host, lambda refresh: "t", scheme="http", rate_limit_per_second=100, page_size=PAGE)
        pages = client.iter_window_pages("application", START, END)
        next(pages)
        next(pages)
        pages.close()
        assert not [thread for thread in threading.enumerate() if thread.name.startswith("netskope-page")]
    assert len(tenant.pages_seen) <= 3
