"""Issue #15 acceptance: incident and endpoint records inserted late are delivered exactly once.

The simulator in its default (realistic) mode: ``datasearch`` and ``dataexport`` records carry no
insertion time, and each record is inserted seconds to six hours after its event time -- for many,
after the window of their event time was pulled and delivered. The hourly schedule runs onward
(``pipeline.run_window`` per window, the tenant clock just past each window's end), then a
reconciliation; CloudWatch (moto_server) must hold every record exactly once, in the stream of its
event time. Also: concurrent pulls of one endpoint window, and a pull that dies after the iterator
moved, lose and double nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import expected_home_events, home_stream_events
from deployment import netskope_connection

from netskope_provider import pipeline, reconciliation, staging
from netskope_provider.api.client import NetskopeClient
from netskope_provider.exceptions import NetskopeRetriesExhaustedError
from netskope_provider.simulator import LagBand, SimulatorConfig, SimulatorServer
from netskope_provider.windows import Window, iso

HOUR = 3600
T0 = 1_780_000_000 // HOUR * HOUR
#: Records are inserted in [T0, T1); their event times reach back six hours before that.
T1 = T0 + 3 * HOUR
LAG = 6 * HOUR
#: A few seconds to six hours: many land after the pull of their event-time window.
LAGS = [LagBand(0.4, 1, 60), LagBand(0.3, 600, HOUR), LagBand(0.3, HOUR, LAG)]
LATE_TYPES = ("incident", "endpoint")
#: Every event-time hour a record can have.
HOMES = reconciliation.windows(T0 - LAG, T1)
SETTLE = 60


def make_simulator(iterator_clock: str = "insertion", iterator_page_records: int = 10_000) -> SimulatorServer:
    return SimulatorServer(
        SimulatorConfig(
            seed=15,
            start=T0,
            end=T1,
            now=T0 - LAG,
            volume=dict.fromkeys(LATE_TYPES, 150),
            insertion_lags=dict.fromkeys(LATE_TYPES, LAGS),
            iterator_clock=iterator_clock,
            iterator_wait_seconds=0,
            iterator_page_records=iterator_page_records,
        )
    )


@pytest.fixture
def env(moto_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    moto_server.reset()
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", f"file://{tmp_path / 'staging'}")
    monkeypatch.setenv("NETSKOPE_VERIFY_WAIT_SECONDS", "0.1")
    yield


def connect(monkeypatch: pytest.MonkeyPatch, sim: SimulatorServer, **extra: object) -> None:
    connection = netskope_connection(sim, **{"rate_limit_per_second": 100, "max_retries": 1, **extra})
    monkeypatch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", connection)


def area(log_type: str, run_id: str, try_number: int = 1) -> staging.TaskStaging:
    return staging.TaskStaging(os.environ["NETSKOPE_STAGING_BASE"], None, f"netskope_{log_type}", run_id, try_number)


def run_schedule(sim: SimulatorServer, log_type: str, first: int, last: int) -> None:
    """The hourly DAG runs of windows starting in ``[first, last)``, each as the tenant stood just after it."""
    for start in range(first, last, HOUR):
        sim.set_now(start + HOUR + SETTLE)
        pipeline.run_window(log_type, Window(start, start + HOUR), area(log_type, f"scheduled__{start}"))


def assert_exactly_once(sim: SimulatorServer, moto_server, log_type: str) -> int:
    logs = moto_server.client("logs")
    total = 0
    for start, end in HOMES:
        expected = expected_home_events(sim, log_type, start, end)
        assert home_stream_events(logs, log_type, start, end) == expected, f"{log_type} home {start}"
        total += sum(expected.values())
    return total


def late_after_their_window(sim: SimulatorServer, log_type: str) -> int:
    """Records inserted after the run of their event-time window had pulled it."""
    return sum(
        1
        for record in sim.ground_truth(log_type, T0 - LAG, T1, by="event")
        if record["_insertion_epoch_timestamp"] > record["timestamp"] // HOUR * HOUR + HOUR + SETTLE
    )


@pytest.mark.parametrize("log_type", LATE_TYPES)
def test_records_inserted_late_reach_their_stream_once_and_the_reconciliation_agrees(
    env, moto_server, monkeypatch, log_type
) -> None:
    with make_simulator() as sim:
        connect(monkeypatch, sim)
        assert late_after_their_window(sim, log_type) > 20
        # The schedule runs until the last insertion. Incident DAGs start a look-back before the first
        # insertion (a deployment reads incidents from its first window on); an endpoint pull reads by
        # insertion, whatever the event time.
        run_schedule(sim, log_type, T0 - LAG if log_type == "incident" else T0, T1)
        assert assert_exactly_once(sim, moto_server, log_type) == 150

        with NetskopeClient(sim.host, lambda refresh: sim.token, scheme="http", rate_limit_per_second=100) as client:
            checks = reconciliation.check_log_type(
                client, moto_server.client("logs"), f"/netskope/ocsf/{log_type}", log_type, HOMES
            )
        assert [check.gap for check in checks] == [0] * len(HOMES)
        assert sum(check.source for check in checks) == 150


def test_an_event_clock_iterator_is_exact_when_the_connection_says_so(env, moto_server, monkeypatch) -> None:
    """If the iterator's epoch counts event time, ``iterator_clock: event`` seeds each pull a look-back earlier."""
    with make_simulator(iterator_clock="event") as sim:
        connect(monkeypatch, sim, iterator_clock="event")
        run_schedule(sim, "endpoint", T0, T1)
        assert assert_exactly_once(sim, moto_server, "endpoint") == 150


def test_the_reconciliation_shows_when_the_iterator_clock_assumption_is_wrong(env, moto_server, monkeypatch) -> None:
    """An event-clock tenant read as if its clock were insertion time misses late records: the reconciliation says so."""
    with make_simulator(iterator_clock="event") as sim:
        connect(monkeypatch, sim)
        run_schedule(sim, "endpoint", T0, T1)
        with NetskopeClient(sim.host, lambda refresh: sim.token, scheme="http", rate_limit_per_second=100) as client:
            checks = reconciliation.check_log_type(
                client, moto_server.client("logs"), "/netskope/ocsf/endpoint", "endpoint", HOMES
            )
        assert sum(check.source for check in checks) == 150, "the reconciliation's count holds under either clock"
        assert sum(check.gap for check in checks) > 0 and min(check.gap for check in checks) >= 0


def test_the_reconciliation_finds_and_heals_what_a_lost_run_left_out(env, moto_server, monkeypatch) -> None:
    """An endpoint run that never happened: its records (homed in several hours) come back by the heal."""
    from netskope_provider.operators.reconcile import NetskopeReconcileOperator

    with make_simulator() as sim:
        connect(monkeypatch, sim)
        lost = T0 + HOUR
        for start in range(T0, T1 + HOUR, HOUR):
            if start != lost:
                sim.set_now(start + HOUR + SETTLE)
                pipeline.run_window("endpoint", Window(start, start + HOUR), area("endpoint", f"scheduled__{start}"))
        ti = type("TI", (), {"run_id": "reconcile", "try_number": 1, "dag_id": "netskope_reconcile"})()
        operator = NetskopeReconcileOperator(
            task_id="reconcile", log_types=["endpoint"], heal=True, window_start=iso(HOMES[0][0]), window_end=iso(T1)
        )
        result = operator.execute({"ti": ti, "data_interval_start": None, "data_interval_end": None})
        assert result["mismatches"] and not result["remaining"]
        assert assert_exactly_once(sim, moto_server, "endpoint") == 150


def test_concurrent_pulls_of_one_endpoint_window_and_a_pull_that_died_mid_stream_leave_one_copy(
    env, moto_server, monkeypatch
) -> None:
    """Each pull reads its own fresh index, so two at once never split one stream; a dead pull is re-run whole."""
    with make_simulator(iterator_page_records=40) as sim:
        connect(monkeypatch, sim, max_retries=0)
        sim.set_now(T1 + LAG)
        window = Window(T0, T1)
        # A pull that dies after the tenant moved its index past a page whose answer never arrived:
        # nothing of it was staged or delivered, and no later pull reuses that index.
        sim.faults.truncate_next = 1
        with pytest.raises(NetskopeRetriesExhaustedError, match="IncompleteRead"):
            pipeline.run_window("endpoint", window, area("endpoint", "died"))
        errors: list[BaseException] = []

        def pull(run_id: str) -> None:
            try:
                pipeline.run_window("endpoint", window, area("endpoint", run_id))
            except BaseException as error:  # reported by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=pull, args=(f"run{n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        # Every record inserted in the window (all of them) is in its home stream once.
        assert assert_exactly_once(sim, moto_server, "endpoint") == 150
