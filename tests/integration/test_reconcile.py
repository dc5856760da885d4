"""Reconciliation: CloudWatch counts per window against the simulated tenant's, found and healed exactly."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from conftest import (
    REPO,
    airflow_with_simulator,
    canonical_json,
    cloudwatch_window_events,
    expected_home_events,
)
from deployment import netskope_connection
from test_operability import RecordingStats

from netskope_provider import delivery, metrics, reconciliation
from netskope_provider.api.client import NetskopeClient
from netskope_provider.compat import DagBag, dag_test, task_return_value
from netskope_provider.simulator import LagBand, SimulatorConfig, SimulatorServer, generate

HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
#: Three closed hours, all older than the default settle delay.
PERIOD = (NOW_HOUR - 4 * HOUR, NOW_HOUR - HOUR)
W1, W2, W3 = reconciliation.windows(*PERIOD)
#: audit is counted by insertion time (data/*), incident by event time (datasearch).
LOG_TYPES = ("audit", "incident")
#: Records inserted a second or two after they happen, so a late one lands in a chosen hour.
PROMPT = [LagBand(1.0, 1, 3)]


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(seed=23, start=PERIOD[0], end=PERIOD[1], volume=dict.fromkeys(LOG_TYPES, 30))
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture
def client(simulator: SimulatorServer) -> Iterator[NetskopeClient]:
    with NetskopeClient(simulator.host, lambda refresh: simulator.token, scheme="http") as netskope:
        yield netskope


def deliver_ground_truth(simulator: SimulatorServer, logs, log_type: str, window: tuple[int, int]) -> int:
    """Put a window's expected events into its stream the way the pipeline would; returns how many."""
    events = [(window[0] * 1000, message) for message in expected_home_events(simulator, log_type, *window).elements()]
    group = f"/netskope/ocsf/{log_type}"
    delivery.ensure_log_group(logs, group)
    delivery.deliver(events, logs, group, delivery.stream_name(log_type, *window))
    return len(events)


def truth(simulator: SimulatorServer, log_type: str, window: tuple[int, int]) -> int:
    """Records homed in ``window``: audit by insertion time, incident by event time."""
    return sum(expected_home_events(simulator, log_type, *window).values())


def test_windows_partition_the_period_and_refuse_unaligned_bounds() -> None:
    assert reconciliation.windows(7200, 18000) == [(7200, 10800), (10800, 14400), (14400, 18000)]
    assert reconciliation.windows(0, 1800, step=900) == [(0, 900), (900, 1800)]
    with pytest.raises(ValueError, match="after its start"):
        reconciliation.windows(3600, 3600)
    with pytest.raises(ValueError, match="multiple of the window length 3600"):
        reconciliation.windows(3600, 9000)


def test_check_finds_missing_window_late_records_and_surplus(simulator, client, moto_server) -> None:
    moto_server.reset()
    logs = moto_server.client("logs")
    for log_type in LOG_TYPES:
        deliver_ground_truth(simulator, logs, log_type, W1)
        deliver_ground_truth(simulator, logs, log_type, W2)
    simulator.inject("audit", generate("audit", 3, W1[0], W1[0] + 60, seed=5))  # inserted late into a delivered window
    simulator.inject("incident", generate("incident", 2, W2[0] + 10, W2[0] + 60, seed=6, lags=PROMPT))
    surplus = (W2[0] * 1000, canonical_json({"duplicate": True}))
    delivery.deliver([surplus], logs, "/netskope/ocsf/audit", delivery.stream_name("audit", *W2))

    found = {}
    for log_type in LOG_TYPES:
        for check in reconciliation.check_log_type(client, logs, f"/netskope/ocsf/{log_type}", log_type, [W1, W2, W3]):
            assert check.source == truth(simulator, log_type, (check.start, check.end))
            assert check.delivered == sum(cloudwatch_window_events(logs, log_type, check.start, check.end).values())
            found[log_type, check.start] = (check.gap, check.method)

    assert found == {
        ("audit", W1[0]): (3, "count"),
        ("audit", W2[0]): (-1, "count"),
        ("audit", W3[0]): (truth(simulator, "audit", W3), "count"),
        ("incident", W1[0]): (0, "count"),
        ("incident", W2[0]): (2, "count"),
        ("incident", W3[0]): (truth(simulator, "incident", W3), "count"),
    }
    assert all(gap for gap, _ in (found["audit", W3[0]], found["incident", W3[0]])), "the dropped window holds records"


def test_sub_window_streams_count_toward_their_window_and_wider_streams_toward_none(
    simulator, client, moto_server
) -> None:
    moto_server.reset()
    logs = moto_server.client("logs")
    halves = [(W1[0], W1[0] + 1800), (W1[0] + 1800, W1[1])]  # a DAG split into 30-minute sub-windows
    delivered = sum(deliver_ground_truth(simulator, logs, "audit", half) for half in halves)
    deliver_ground_truth(simulator, logs, "audit", (W2[0], W3[1]))  # a two-hour custom window
    logs.create_log_stream(logGroupName="/netskope/ocsf/audit", logStreamName="netskope/audit/not-a-window")

    checks = reconciliation.check_log_type(client, logs, "/netskope/ocsf/audit", "audit", [W1, W2, W3])
    assert delivered == len(simulator.ground_truth("audit", *W1)) > 0
    assert [check.delivered for check in checks] == [delivered, 0, 0]
    assert reconciliation.stream_window(delivery.stream_name("audit", *halves[1]), "audit") == halves[1]
    assert reconciliation.stream_window("netskope/audit/not-a-window", "audit") is None


def test_missing_log_group_counts_as_nothing_delivered(simulator, client, moto_server) -> None:
    moto_server.reset()
    checks = reconciliation.check_log_type(client, moto_server.client("logs"), "/netskope/ocsf/none", "audit", [W1])
    assert [(c.delivered, c.gap) for c in checks] == [(0, len(simulator.ground_truth("audit", *W1)))]
    assert reconciliation.mismatches(checks) == checks


def test_table_lists_every_window_and_marks_mismatches() -> None:
    checks = [
        reconciliation.WindowCheck("audit", W1[0], W1[1], source=10, delivered=10, method="count"),
        reconciliation.WindowCheck("audit", W2[0], W2[1], source=12, delivered=9, method="count"),
        reconciliation.WindowCheck("incident", W3[0], W3[1], source=4, delivered=5, method="repull"),
    ]
    lines = reconciliation.format_table(checks).splitlines()
    assert lines[0].split() == ["log", "type", "window", "start", "(UTC)", "tenant", "delivered", "gap", "method"]
    start = datetime.fromtimestamp(W2[0], tz=UTC).isoformat()
    assert lines[3].split() == ["audit", start, "12", "9", "+3", "count", "MISSING"]
    assert lines[4].split()[-3:] == ["-1", "repull", "SURPLUS"] and lines[2].split()[-1] == "ok"
    assert reconciliation.mismatches(checks) == checks[1:]
    assert checks[1].as_dict()["gap"] == 3


def utc_iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


@pytest.fixture
def airflow_env(simulator: SimulatorServer, moto_server, tmp_path) -> Iterator[None]:
    """A fresh metadata DB and connections to the simulator and an empty moto_server."""
    moto_server.reset()
    with airflow_with_simulator(simulator, tmp_path):
        yield


def reconcile_run(dag, **conf) -> dict:
    """One ``dag.test()`` run of netskope_reconcile over PERIOD; returns the task's summary."""
    run_conf = {
        "window": f"{utc_iso(PERIOD[0])}/{utc_iso(PERIOD[1])}",
        "log_types": list(LOG_TYPES),
        **conf,
    }
    dag_run = dag_test(dag, datetime.fromtimestamp(NOW_HOUR, tz=UTC), run_conf=run_conf)
    assert dag_run.state == "success"
    summary = task_return_value(dag_run, "reconcile")
    assert summary["windows"] == 3 * len(LOG_TYPES), "every hour of the period for each log type asked for"
    return summary


def gaps(entries: list[dict]) -> dict[tuple[str, int], int]:
    return {(entry["log_type"], entry["start"]): entry["gap"] for entry in entries}


def reconcile_metrics(recorder: RecordingStats, host: str) -> dict[tuple[str, str], float]:
    """The reconcile metrics of the last run, by (name, log type); every call tagged with the tenant."""
    assert {tags["tenant"] for _, name, _, tags in recorder.calls if name.startswith("netskope.reconcile.")} == {host}
    values = {
        (name, tags["log_type"]): value
        for _, name, value, tags in recorder.calls
        if name.startswith("netskope.reconcile.")
    }
    recorder.calls.clear()
    return values


def test_reconcile_dag_finds_late_records_and_a_dropped_window_and_heals_them_once(
    simulator, airflow_env, moto_server, monkeypatch
) -> None:
    from pipeline_tasks import run_pipeline

    dag = DagBag(dag_folder=str(REPO / "dags")).dags["netskope_reconcile"]
    for log_type in LOG_TYPES:
        for window in (W1, W2):  # W3 is never run: the dropped window
            run_pipeline(log_type, *window, run_id=f"scheduled__{log_type}_{window[0]}")
    simulator.inject("audit", generate("audit", 3, W2[0] + 10, W2[0] + 70, seed=5))  # late into a delivered window
    # Incidents of W1 the tenant slipped in behind what the scheduled pulls had read.
    simulator.inject("incident", generate("incident", 2, W1[0] + 10, W1[0] + 70, seed=6, lags=PROMPT))
    recorder = RecordingStats()
    monkeypatch.setattr(metrics, "Stats", recorder)
    dropped = truth(simulator, "audit", W3)

    report = reconcile_run(dag, heal=False)
    found = gaps(report["mismatches"])
    # No incident window was dropped: W2's pull read every incident inserted until then, W3's too.
    assert found == {("audit", W2[0]): 3, ("audit", W3[0]): dropped, ("incident", W1[0]): 2}
    assert all(found.values()) and gaps(report["remaining"]) == found and report["healed"] == []
    assert reconcile_metrics(recorder, simulator.host.replace(":", "_")) == {
        (metrics.RECONCILE_WINDOWS_MISMATCHED, "audit"): 2,
        (metrics.RECONCILE_WINDOWS_MISMATCHED, "incident"): 1,
        (metrics.RECONCILE_RECORDS_MISSING, "audit"): 3 + dropped,
        (metrics.RECONCILE_RECORDS_MISSING, "incident"): 2,
        (metrics.RECONCILE_RECORDS_SURPLUS, "audit"): 0,
        (metrics.RECONCILE_RECORDS_SURPLUS, "incident"): 0,
        (metrics.RECONCILE_WINDOWS_HEALED, "audit"): 0,
        (metrics.RECONCILE_WINDOWS_HEALED, "incident"): 0,
    }
    assert cloudwatch_window_events(moto_server.client("logs"), "audit", *W3) == {}, "report only: nothing healed"

    healing = reconcile_run(dag, heal=True)
    assert gaps(healing["mismatches"]) == found
    assert gaps(healing["healed"]) == dict.fromkeys(found, 0) and healing["remaining"] == []
    healing_metrics = reconcile_metrics(recorder, simulator.host.replace(":", "_"))
    assert healing_metrics[metrics.RECONCILE_WINDOWS_HEALED, "audit"] == 2
    assert healing_metrics[metrics.RECONCILE_WINDOWS_HEALED, "incident"] == 1
    assert healing_metrics[metrics.RECONCILE_WINDOWS_MISMATCHED, "audit"] == 0

    again = reconcile_run(dag, heal=True)
    assert again["mismatches"] == again["healed"] == again["remaining"] == []
    logs = moto_server.client("logs")
    for log_type in LOG_TYPES:
        for window in (W1, W2, W3):
            assert cloudwatch_window_events(logs, log_type, *window) == expected_home_events(
                simulator, log_type, *window
            )


def test_heal_refuses_a_window_whose_streams_its_dag_would_not_write(
    simulator, moto_server, monkeypatch, tmp_path
) -> None:
    """Records in 30-minute streams while the audit DAG delivers hourly: a re-run would copy them again."""
    from types import SimpleNamespace

    from netskope_provider.operators.reconcile import NetskopeReconcileOperator

    moto_server.reset()
    monkeypatch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", netskope_connection(simulator))
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", f"file://{tmp_path}")
    logs = moto_server.client("logs")
    for half in ((W1[0], W1[0] + 1800), (W1[0] + 1800, W1[1])):
        deliver_ground_truth(simulator, logs, "audit", half)
    simulator.inject("audit", generate("audit", 2, W1[0] + 5, W1[0] + 50, seed=8))
    before = cloudwatch_window_events(logs, "audit", *W1)

    operator = NetskopeReconcileOperator(
        task_id="reconcile", log_types=["audit"], heal=True, window_start=utc_iso(W1[0]), window_end=utc_iso(W1[1])
    )
    summary = operator.execute({"ti": SimpleNamespace(run_id="manual__guard", try_number=1)})
    assert gaps(summary["remaining"]) == gaps(summary["mismatches"]) == {("audit", W1[0]): 2}
    assert summary["healed"] == []
    assert cloudwatch_window_events(logs, "audit", *W1) == before == Counter(), "no hourly stream written"


def load_reconcile_dag(monkeypatch, **env: str):
    """Build the reconciliation DAG afresh under ``env`` (the factory reads the environment on each call)."""
    from netskope_provider.dag_factory import build_reconcile_dag

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return build_reconcile_dag()


def test_dag_is_daily_in_the_api_pool_with_heal_off_unless_asked(monkeypatch) -> None:
    from airflow_helpers import core_timetable

    from netskope_provider.compat import CronDataIntervalTimetable

    summary = lambda timetable: core_timetable(timetable).summary
    dag = load_reconcile_dag(monkeypatch, NETSKOPE_SCHEDULE="*/5 * * * *")  # the log-type DAGs' setting does not apply
    assert isinstance(dag.timetable, CronDataIntervalTimetable) and summary(dag.timetable) == "0 0 * * *"
    (task,) = dag.tasks
    assert task.task_id == "reconcile" and task.pool == "netskope_api" and task.settle_seconds == 900
    assert dag.params["heal"] is None and dag.params["log_types"] is None
    assert summary(load_reconcile_dag(monkeypatch, NETSKOPE_SCHEDULE_RECONCILE="0 6 * * *").timetable) == "0 6 * * *"
    with pytest.raises(ValueError, match="NETSKOPE_SCHEDULE"):
        load_reconcile_dag(monkeypatch, NETSKOPE_SCHEDULE_RECONCILE="daily")


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("yes", True), ("0", False), ("", False)])
def test_heal_switch_reads_yes_and_no(value, expected) -> None:
    from netskope_provider.operators.reconcile import heal_setting

    assert heal_setting(value, "param heal") is expected


def test_heal_switch_refuses_anything_else() -> None:
    from netskope_provider.compat import AirflowFailException
    from netskope_provider.operators.reconcile import heal_setting

    with pytest.raises(AirflowFailException, match="Variable netskope_reconcile_heal='maybe' is not a boolean"):
        heal_setting("maybe", "Variable netskope_reconcile_heal")
