"""Full pages and a bounded body: every request asks for 10,000 records, memory stays bounded in bytes.

Pages reach the client as raw JSON text (no object per field), so a 10,000-record page costs about
twice its JSON; ``max_page_bytes`` caps one body: a page over it is dropped while it is read and,
on offset paging, asked again with half the records, so the window stays exact.
"""

from __future__ import annotations

import pytest
from scripted_tenant import Reply, ScriptedTenant, decoded, ok

from netskope_provider.api.client import PAGE_SIZE, NetskopeClient
from netskope_provider.exceptions import NetskopePageTooLargeError
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

S = 1_790_000_000
END = S + 3600


@pytest.fixture(scope="module")
def sim():
    config = SimulatorConfig(
        seed=5,
        start=S,
        end=END,
        now=END + 60,
        volume={"application": 1_600, "incident": 1_300, "audit": 1_200},
    )
    with SimulatorServer(config) as server:
        yield server


def truth(sim, log_type: str) -> list[str]:
    """The window's records: incident pulls are cut on event time, the others on insertion time."""
    by = "event" if log_type == "incident" else "insertion"
    return [record["_id"] for record in sim.ground_truth(log_type, S, END, by=by)]


def limits(sim, path: str) -> list[int]:
    return [int(query["limit"]) for served, query in sim.stats.queries if served.endswith(path) and "limit" in query]


def client_for(sim, **options) -> NetskopeClient:
    return NetskopeClient(sim.host, lambda refresh: sim.token, scheme="http", rate_limit_per_second=200, **options)


@pytest.mark.parametrize("log_type, path", [("application", "data/application"), ("incident", "datasearch/incident")])
def test_each_request_asks_for_a_full_page(sim, log_type: str, path: str) -> None:
    sim.stats.queries.clear()
    got = [record["_id"] for record in decoded(client_for(sim).iter_window_pages(log_type, S, END))]
    assert sorted(got) == sorted(truth(sim, log_type))
    assert limits(sim, path) == [PAGE_SIZE]


@pytest.mark.parametrize("log_type, path", [("application", "data/application"), ("incident", "datasearch/incident")])
def test_a_body_over_max_page_bytes_is_asked_again_with_half_the_records_and_stays_exact(
    sim, log_type: str, path: str
) -> None:
    sim.stats.queries.clear()
    pages = list(client_for(sim, max_page_bytes=400_000).iter_window_pages(log_type, S, END))
    got = [record["_id"] for record in decoded(pages)]
    assert sorted(got) == sorted(truth(sim, log_type)) and len(got) == len(set(got))
    asked = limits(sim, path)
    assert asked[:3] == [PAGE_SIZE, PAGE_SIZE // 2, PAGE_SIZE // 4], asked
    assert all(sum(map(len, page.records)) <= 400_000 for page in pages)


def test_small_records_fill_whole_pages(sim) -> None:
    sim.stats.queries.clear()
    client = client_for(sim, page_size=500)
    got = [record["_id"] for record in decoded(client.iter_window_pages("audit", S, END))]
    assert sorted(got) == sorted(record["_id"] for record in sim.ground_truth("audit", S, END))
    assert limits(sim, "data/audit") == [500, 500, 500]  # the count (1,200) ends paging: no empty 4th page


def test_an_iterator_page_over_max_page_bytes_names_the_setting() -> None:
    big = [{"_id": f"e{n}", "timestamp": S + n, "blob": "x" * 1000} for n in range(50)]
    with ScriptedTenant() as tenant:
        tenant.queue(ok(big, timestamp_hwm=END, wait_time=0))
        client = NetskopeClient(tenant.host, lambda refresh: "tok-12345678", scheme="http", max_page_bytes=10_000)
        with pytest.raises(NetskopePageTooLargeError, match="max_page_bytes=10000"):
            list(client.iter_window_pages("endpoint", S, END))
        assert len(tenant.seen) == 1, "not retried: the same page would be as large again"


def test_a_declared_length_over_the_bound_is_refused_before_reading() -> None:
    with ScriptedTenant() as tenant:
        tenant.queue(Reply(body=b'{"ok":1,"result":[' + b'"x",' * 5000 + b'"x"]}'), ok([]))
        client = NetskopeClient(
            tenant.host, lambda refresh: "tok-12345678", scheme="http", max_page_bytes=1_000, page_size=2
        )
        assert decoded(client.iter_window_pages("audit", S, END)) == []
        assert [seen.params["limit"] for seen in tenant.pages_seen] == ["2", "1"]
