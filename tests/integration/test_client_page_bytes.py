"""Byte-bounded offset paging: large records are asked for in smaller pages, and the window stays exact."""

from __future__ import annotations

import orjson
import pytest

from netskope_provider.api.client import NetskopeClient
from netskope_provider.api.strategies import FIRST_PAGE_RECORDS
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

S = 1_790_000_000
END = S + 3600
MAX_PAGE_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def sim():
    config = SimulatorConfig(
        seed=5,
        start=S,
        end=END,
        now=END + 60,
        volume={"application": 1_600, "incident": 1_300, "audit": 1_200},
        insertion_time_everywhere=True,  # legacy shape: the incident strategy still needs it (#15)
    )
    with SimulatorServer(config) as server:
        yield server


def limits(sim, path: str) -> list[int]:
    return [int(query["limit"]) for served, query in sim.stats.queries if served.endswith(path) and "limit" in query]


@pytest.mark.parametrize("log_type, path", [("application", "data/application"), ("incident", "datasearch/incident")])
def test_large_records_are_paged_by_bytes_and_the_window_stays_exact(sim, log_type: str, path: str) -> None:
    client = NetskopeClient(
        sim.host, lambda refresh: sim.token, scheme="http", rate_limit_per_second=200, max_page_bytes=MAX_PAGE_BYTES
    )
    sim.stats.queries.clear()
    pages = list(client.iter_window_pages(log_type, S, END))
    got = [record["_id"] for page in pages for record in page]
    truth = [record["_id"] for record in sim.ground_truth(log_type, S, END)]
    assert sorted(got) == sorted(truth) and len(got) == len(set(got))
    asked = limits(sim, path)
    assert asked[0] == FIRST_PAGE_RECORDS
    record_bytes = sum(len(orjson.dumps(record)) for page in pages for record in page) / len(got)
    assert all(0 < limit <= MAX_PAGE_BYTES / record_bytes * 1.5 for limit in asked[1:]), (asked, record_bytes)
    assert len(asked) > 2


def test_small_records_still_use_full_pages(sim) -> None:
    client = NetskopeClient(
        sim.host,
        lambda refresh: sim.token,
        scheme="http",
        rate_limit_per_second=200,
        max_page_bytes=MAX_PAGE_BYTES,
        page_size=500,
    )
    sim.stats.queries.clear()
    got = [record["_id"] for page in client.iter_window_pages("audit", S, END) for record in page]
    assert sorted(got) == sorted(record["_id"] for record in sim.ground_truth("audit", S, END))
    assert limits(sim, "data/audit") == [500, 500, 500]


def test_without_a_byte_bound_pages_hold_page_size_records(sim) -> None:
    client = NetskopeClient(
        sim.host, lambda refresh: sim.token, scheme="http", rate_limit_per_second=200, max_page_bytes=None
    )
    sim.stats.queries.clear()
    assert sum(len(page) for page in client.iter_window_pages("application", S, END)) == 1_600
    assert limits(sim, "data/application") == [10_000]
