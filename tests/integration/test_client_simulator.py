"""Acceptance tests of ``NetskopeClient`` against the simulated tenant: exact, stable windows.

The simulator's ground truth is every record with insertion time (incident: event time) in a
window, served or not; a pull must return exactly those ids, none missing and none twice, however
it pages. An endpoint pull reads its iterator on to the page that passes the window end, so it may
also hold records inserted after the window (which the next window reads again; delivery keeps one).
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scripted_tenant import decoded

from netskope_provider.api.client import NetskopeClient
from netskope_provider.exceptions import NetskopePermissionError, NetskopeResponseError
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.simulator import FaultConfig, SimulatorConfig, SimulatorServer

S = 1_790_000_000
SPAN = 3600
END = S + SPAN
NOW = END + 3600
CUTS = [S, S + 1000, S + 2200, END]


def late_records(prefix: str) -> list[dict]:
    """Records inserted long after they happened, some exactly on window edges."""
    inserted = [S, CUTS[1] - 1, CUTS[1], CUTS[2] - 1, CUTS[2], END - 1, S + 17, S + 1500, S + 3000, S + 3333]
    return [
        {"_id": f"{prefix}{i:04d}", "timestamp": when - 20_000 - i, "_insertion_epoch_timestamp": when, "late": True}
        for i, when in enumerate(inserted)
    ]


@pytest.fixture(scope="module")
def sim():
    config = SimulatorConfig(
        seed=11,
        start=S,
        end=END,
        now=NOW,
        volume={"application": 25_000 - 10, "incident": 1_500, "endpoint": 1_500},
        iterator_wait_seconds=0,
        iterator_batch_seconds=600,  # several iterator pages per window
    )
    with SimulatorServer(config) as server:
        for log_type, prefix in (("application", "fffa"), ("incident", "fffb"), ("endpoint", "fffc")):
            server.inject(log_type, late_records(prefix))
        yield server


def client_for(sim: SimulatorServer, **options) -> NetskopeClient:
    options = {"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.05, **options}
    return NetskopeClient(sim.host, lambda refresh: sim.token, scheme="http", **options)


def pulled_ids(client: NetskopeClient, log_type: str, start: int, end: int) -> list[str]:
    return [record["_id"] for record in decoded(client.iter_window_pages(log_type, start, end))]


def truth(sim: SimulatorServer, log_type: str, start: int, end: int) -> set[str]:
    """The ids a pull of ``[start, end)`` must return: inserted in it; for incident, happened in it."""
    by = "event" if log_type == "incident" else "insertion"
    return {record["_id"] for record in sim.ground_truth(log_type, start, end, by=by)}


def assert_pulled(ids: list[str], sim: SimulatorServer, log_type: str, start: int, end: int) -> None:
    """Each id once, the window's ids all there, and for endpoint nothing but later-inserted extras."""
    assert len(ids) == len(set(ids)), log_type
    if log_type == "endpoint":
        assert truth(sim, log_type, start, end) <= set(ids) <= truth(sim, log_type, start, 2**40)
    else:
        assert set(ids) == truth(sim, log_type, start, end), log_type


def assert_partitioned(pulled: Counter[str], sim: SimulatorServer, log_type: str, start: int, end: int) -> None:
    """Consecutive pulls hold every record once; endpoint pulls may share the records one read past its end."""
    if log_type != "endpoint":
        assert max(pulled.values()) == 1
    assert_pulled(list(pulled), sim, log_type, start, end)


def test_25000_application_records_pulled_twice_are_the_ground_truth(sim):
    client = client_for(sim)
    first = pulled_ids(client, "application", S, END)
    second = pulled_ids(client, "application", S, END)
    assert len(first) == 25_000 == len(set(first))
    assert set(first) == truth(sim, "application", S, END)
    assert second == first
    assert sum(1 for i in first if i.startswith("fffa")) == 10  # late arrivals caught


@pytest.mark.parametrize("log_type", ["application", "incident", "endpoint"])
def test_consecutive_windows_partition_the_records(sim, log_type):
    client = client_for(sim)
    windows = [pulled_ids(client, log_type, a, b) for a, b in itertools.pairwise(CUTS)]
    for (a, b), ids in zip(itertools.pairwise(CUTS), windows):
        assert_pulled(ids, sim, log_type, a, b)
    assert_partitioned(Counter(i for ids in windows for i in ids), sim, log_type, S, END)


@pytest.mark.parametrize("log_type", ["incident", "endpoint"])
def test_overlapping_strategies_are_stable_and_catch_late_records(sim, log_type):
    client = client_for(sim)
    first = pulled_ids(client, log_type, S, END)
    assert sorted(first) == sorted(pulled_ids(client, log_type, S, END))
    assert_pulled(first, sim, log_type, S, END)
    # Incident pulls are cut on event time, which the late records' lies hours before.
    assert sum(i[:4] in ("fffb", "fffc") for i in first) == (10 if log_type == "endpoint" else 0)


def test_count_window_matches_the_ground_truth(sim):
    client = client_for(sim)
    assert client.count_window("application", CUTS[1], CUTS[2]) == len(truth(sim, "application", CUTS[1], CUTS[2]))
    assert client.count_window("incident", S, END) == len(truth(sim, "incident", S, END))
    assert client.count_window("endpoint", S, END) is None


@pytest.mark.parametrize("records, pages", [(20_000, 2), (25_000, 3), (0, 0)])
def test_a_window_costs_its_pages_and_one_count_query(records: int, pages: int) -> None:
    """The count that checks paging replaces the empty trailing page a full last page used to need."""
    config = SimulatorConfig(seed=3, start=S, end=END, now=NOW, volume={"network": records})
    with SimulatorServer(config) as server:
        client = client_for(server, rate_limit_per_second=100)
        assert len(pulled_ids(client, "network", S, END)) == records
        queries = [query for path, query in server.stats.queries if path.endswith("data/network")]
    counts = [query for query in queries if "fields" in query]
    assert len(counts) == 1 and len(queries) == 1 + max(pages, 1)


@pytest.mark.parametrize("records, requests", [(20_000, 3), (25_000, 3), (0, 1)])
def test_an_audit_window_costs_its_pages_only_the_page_states_the_total(records: int, requests: int) -> None:
    """``data/audit`` states its query's total on each page, so paging is checked without a count query.

    A stated total ends no pull early: a full last page is followed by one empty one, as unchecked.
    """
    config = SimulatorConfig(seed=3, start=S, end=END, now=NOW, volume={"audit": records})
    with SimulatorServer(config) as server:
        client = client_for(server, rate_limit_per_second=100)
        assert sorted(pulled_ids(client, "audit", S, END)) == sorted(truth(server, "audit", S, END))
        queries = [query for path, query in server.stats.queries if path.endswith("data/audit")]
    assert len(queries) == requests and not [query for query in queries if "fields" in query]


def test_a_window_pulled_before_it_settles_misses_nothing_once_settled():
    """Records inserted after "now" are not served yet; the same window re-pulled later is complete."""
    with SimulatorServer(SimulatorConfig(seed=5, start=S, end=END, now=S + 1800, volume={"page": 800})) as sim:
        client = client_for(sim)
        early = pulled_ids(client, "page", S, END)
        sim.set_now(NOW)
        settled = pulled_ids(client, "page", S, END)
    assert set(early) < set(settled)
    assert set(settled) == truth(sim, "page", S, END)


def test_all_eight_log_types_concurrently_under_the_tenant_rate_limit():
    config = SimulatorConfig(
        seed=21,
        start=S,
        end=END,
        now=NOW,
        rate_limit_per_second=4,
        iterator_wait_seconds=0,
        faults=FaultConfig(throttle_next=6),  # a 429 storm on top of the real limit
    )
    with SimulatorServer(config) as sim:
        client = client_for(sim, page_size=250)
        results: dict[str, list[str]] = {}
        errors: list[BaseException] = []

        def pull(log_type: str) -> None:
            try:
                results[log_type] = pulled_ids(client, log_type, S, END)
            except BaseException as exc:  # reported below, with the log type
                errors.append(exc)

        threads = [threading.Thread(target=pull, args=(name,)) for name in LOG_TYPES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        for log_type in LOG_TYPES:
            assert_pulled(results[log_type], sim, log_type, S, END)
        assert sim.stats.throttled >= 6
        assert client.stats.total("rate_limited") == sim.stats.throttled
        assert sim.stats.statuses[429] == sim.stats.throttled
        # Every 429 asked for >= 1 s (Retry-After) and paused its endpoint at least that long.
        assert client.stats.total("wait_seconds") >= 0.95 * sim.stats.throttled


@pytest.mark.parametrize("log_type", ["network", "incident", "endpoint"])
def test_exact_under_server_errors_resets_timeouts_and_truncated_bodies(log_type):
    """Truncated and timed-out iterator pages were processed by the server: only ``resend`` recovers them."""
    faults = FaultConfig(error_rate=0.15, reset_rate=0.1, truncate_rate=0.2, slow_rate=0.1, slow_seconds=0.5)
    config = SimulatorConfig(
        seed=31,
        start=S,
        end=END,
        now=NOW,
        volume={log_type: 1_200},
        faults=faults,
        iterator_wait_seconds=0,
        iterator_batch_seconds=300,
    )
    with SimulatorServer(config) as sim:
        client = client_for(sim, page_size=100, rate_limit_per_second=100, max_retries=10, timeout=(2, 0.3))
        assert_pulled(pulled_ids(client, log_type, S, END), sim, log_type, S, END)
        assert sum(sim.stats.faults.values()) >= 3
        assert client.stats.total("retries") >= sum(sim.stats.faults.values())


def test_iterator_conflict_409_is_waited_out():
    config = SimulatorConfig(
        seed=41,
        start=S,
        end=END,
        now=NOW,
        volume={"endpoint": 300},
        faults=FaultConfig(conflict_next=1),
    )
    with SimulatorServer(config) as sim:
        client = client_for(sim)
        assert_pulled(pulled_ids(client, "endpoint", S, END), sim, "endpoint", S, END)
        assert sim.stats.conflicts == 1 == client.stats.total("conflicts")


def test_html_login_page_fails_without_retrying():
    config = SimulatorConfig(seed=43, start=S, end=END, now=NOW, faults=FaultConfig(html_next=1))
    with SimulatorServer(config) as sim:
        with pytest.raises(NetskopeResponseError, match="Sign In"):
            pulled_ids(client_for(sim), "audit", S, END)
        assert sum(sim.stats.requests.values()) == 1


def test_token_without_the_scope_gets_the_rbac_permission_named():
    config = SimulatorConfig(
        seed=47, start=S, end=END, now=NOW, token="scoped-token-1", scopes={"scoped-token-1": {"page"}}
    )
    with SimulatorServer(config) as sim:
        client = client_for(sim)
        assert set(pulled_ids(client, "page", S, END)) == truth(sim, "page", S, END)
        with pytest.raises(NetskopePermissionError, match="DLP: DLP Incident"):
            pulled_ids(client, "incident", S, END)


def test_concurrent_pulls_of_the_same_iterator_window_never_collide(sim):
    """Each pull seeds its own index, so two runs of one window (a retry racing a backfill) get no 409."""
    client = client_for(sim)
    conflicts_before = sim.stats.conflicts
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(pulled_ids(client, "endpoint", S, END))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for ids in results:
        assert_pulled(ids, sim, "endpoint", S, END)
    assert sim.stats.conflicts == conflicts_before


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    log_type=st.sampled_from(["audit", "incident", "endpoint"]),
    cuts=st.lists(st.integers(S - 600, END + 600), min_size=1, max_size=4, unique=True),
)
def test_any_cut_points_partition_the_records(small_sim, log_type, cuts):
    """Wherever the window edges fall (inside, outside or on a record's second), nothing is lost or doubled."""
    edges = sorted({S - 900, END + 900, *cuts})
    client = client_for(small_sim, rate_limit_per_second=100)
    pulled = Counter(i for a, b in itertools.pairwise(edges) for i in pulled_ids(client, log_type, a, b))
    assert_partitioned(pulled, small_sim, log_type, S - 900, END + 900)


@pytest.fixture(scope="module")
def small_sim():
    config = SimulatorConfig(
        seed=53,
        start=S,
        end=END,
        now=NOW,
        volume={"audit": 400, "incident": 400, "endpoint": 400},
        iterator_wait_seconds=0,
        iterator_batch_seconds=900,
    )
    with SimulatorServer(config) as server:
        for log_type, prefix in (("audit", "fffd"), ("incident", "fffe"), ("endpoint", "ffff")):
            server.inject(log_type, late_records(prefix))
        yield server
