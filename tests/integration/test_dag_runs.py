"""Whole DAG runs with ``dag.test()``: the simulator in, moto_server out, CloudWatch compared with ground truth."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from conftest import REPO, airflow_with_simulator, all_stream_events, expected_home_events, home_stream_events

from netskope_provider import delivery, staging
from netskope_provider.compat import AIRFLOW_V_3_0_PLUS, DagBag, dag_test, task_return_value
from netskope_provider.demo import canonical, expected_messages, stream_documents
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.simulator import SimulatorConfig, SimulatorServer, generate

HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
#: The simulated tenant holds two closed hours; most tests use the later one.
SPAN = (NOW_HOUR - 3 * HOUR, NOW_HOUR - HOUR)
WINDOW = (NOW_HOUR - 2 * HOUR, NOW_HOUR - HOUR)
EARLIER_WINDOW = (NOW_HOUR - 3 * HOUR, NOW_HOUR - 2 * HOUR)
OLD_WINDOW = (NOW_HOUR - 20 * 24 * HOUR, NOW_HOUR - 20 * 24 * HOUR + HOUR)


def utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(seed=11, start=SPAN[0], end=SPAN[1], volume=dict.fromkeys(LOG_TYPES, 60))
    with SimulatorServer(config) as sim:
        sim.inject("audit", generate("audit", 40, *OLD_WINDOW, seed=99))
        yield sim


@pytest.fixture(scope="module")
def airflow_env(simulator: SimulatorServer, moto_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A fresh metadata DB, the netskope_api pool, and connections to the simulator and moto_server."""
    moto_server.reset()  # records of one hour share its home stream: start from an empty endpoint
    with airflow_with_simulator(simulator, tmp_path_factory.mktemp("staging")):
        yield


@pytest.fixture(scope="module")
def dags(airflow_env: None) -> dict:
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag.dags


def run_dag(dag, window_end: int | None, **kwargs):
    """One manual ``dag.test()`` run: logical date = interval end, so the interval is the hour before."""
    return dag_test(dag, None if window_end is None else utc(window_end), **kwargs)


def task_result(dag_run, task_id: str) -> dict:
    result = task_return_value(dag_run, task_id)
    assert result is not None, f"{task_id} pushed no result"
    return result


def window_label(dag_run, task_id: str = "fetch") -> str | None:
    """The task instance's label (its rendered map index): the window it pulled, as the UI and REST API show it."""
    return dag_run.get_task_instance(task_id).rendered_map_index


def stream_events(moto_server, log_type: str, start: int, end: int) -> Counter[bytes]:
    return Counter(canonical(d) for d in stream_documents(moto_server.client("logs"), log_type, start, end))


@pytest.mark.parametrize("log_type", list(LOG_TYPES))
def test_each_dag_delivers_exactly_the_windows_ground_truth(dags, simulator, moto_server, log_type: str) -> None:
    dag_run = run_dag(dags[f"netskope_{log_type}"], WINDOW[1])
    assert dag_run.state == "success"
    # Nothing is inserted after WINDOW: its stream holds every record homed there (incident and
    # endpoint by event time), and the pull read those of its insertion (incident: event) time.
    expected = expected_home_events(simulator, log_type, *WINDOW)
    assert sum(expected.values()) > 0
    assert stream_events(moto_server, log_type, *WINDOW) == expected
    read = len(simulator.ground_truth(log_type, *WINDOW, by="event" if log_type == "incident" else "insertion"))

    summary = task_result(dag_run, "deliver")
    assert summary["window"]["start"] == WINDOW[0] and summary["window"]["end"] == WINDOW[1]
    assert window_label(dag_run) == f"{utc(WINDOW[0]).isoformat()}/{utc(WINDOW[1]).isoformat()}"
    assert summary["fetched"] == read == summary["ocsf_total"] + summary["raw"] + summary["rejected"]
    assert summary["rejected"] == 0 and summary["delivered"] == summary["fetched"]
    run_folder = (
        staging.staging_path(os.environ["NETSKOPE_STAGING_BASE"]) / dag_run.dag_id / staging.safe_name(dag_run.run_id)
    )
    assert not run_folder.exists(), "staged files are removed after a successful delivery"
    quarantine = staging.staging_path(os.environ["NETSKOPE_STAGING_BASE"]) / staging.REJECTED_FOLDER / dag_run.dag_id
    assert not quarantine.exists(), "nothing rejected, nothing kept"


def test_same_window_run_twice_keeps_one_copy(dags, simulator, moto_server) -> None:
    first = run_dag(dags["netskope_audit"], WINDOW[1])
    second = run_dag(dags["netskope_audit"], WINDOW[1])
    assert first.state == second.state == "success"
    expected = expected_messages(simulator, "audit", *WINDOW)
    assert stream_events(moto_server, "audit", *WINDOW) == expected
    assert task_result(second, "deliver")["delivery"]["already_present"] == sum(expected.values())


def test_delivery_killed_midway_then_rerun_keeps_one_copy(dags, simulator, moto_server) -> None:
    dag = dags["netskope_page"]
    staged_only = run_dag(dag, EARLIER_WINDOW[1], mark_success_pattern="^deliver$")
    assert staged_only.state == "success"
    mapped = task_result(staged_only, "to_ocsf")
    events = [
        staging.decode_event(line)[1:]
        for line in staging.read_lines(staging.staging_path(mapped["events"]["location"]))
    ]
    logs = moto_server.client("logs")
    group, stream = "/netskope/ocsf/page", delivery.stream_name("page", *EARLIER_WINDOW)
    delivery.ensure_log_group(logs, group)
    delivery.deliver(events[: len(events) // 2], logs, group, stream)  # what a try killed mid-way got out
    assert sum(stream_events(moto_server, "page", *EARLIER_WINDOW).values()) == len(events) // 2

    rerun = run_dag(dag, EARLIER_WINDOW[1])
    assert rerun.state == "success"
    assert stream_events(moto_server, "page", *EARLIER_WINDOW) == expected_messages(simulator, "page", *EARLIER_WINDOW)


def test_window_twenty_days_old_is_delivered_under_the_timestamp_policy(dags, simulator, moto_server) -> None:
    dag_run = run_dag(dags["netskope_audit"], OLD_WINDOW[1])
    assert dag_run.state == "success"
    expected = expected_messages(simulator, "audit", *OLD_WINDOW)
    assert sum(expected.values()) == 40
    assert stream_events(moto_server, "audit", *OLD_WINDOW) == expected
    delivery = task_result(dag_run, "deliver")["delivery"]
    assert delivery["restamped"] == 40 and delivery["rejected"] == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [("NETSKOPE_STAGING_RETENTION_HOURS", "two days"), ("NETSKOPE_TIMESTAMP_POLICY", "sometimes")],
)
def test_a_bad_run_setting_fails_the_run_at_fetch_before_anything_is_pulled_or_sent(
    dags, simulator, moto_server, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Settings the deliver task reads are checked by the run's first task, and a retry cannot fix them."""
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("NETSKOPE_LOG_GROUP", "/netskope/bad-setting/{log_type}")
    requests = simulator.stats.requests.total()

    dag_run = run_dag(dags["netskope_audit"], WINDOW[1])

    assert dag_run.state == "failed"
    states = {task_id: dag_run.get_task_instance(task_id).state for task_id in ("fetch", "to_ocsf", "deliver")}
    assert states == {"fetch": "failed", "to_ocsf": "upstream_failed", "deliver": "upstream_failed"}
    assert simulator.stats.requests.total() == requests, "the tenant was not asked"
    assert all_stream_events(moto_server.client("logs"), "audit", "/netskope/bad-setting/audit") == Counter()


def test_custom_window_from_the_trigger_form(dags, simulator, moto_server) -> None:
    window = (EARLIER_WINDOW[0], WINDOW[1])
    conf = {"window": f"{utc(window[0]).isoformat()}/{utc(window[1]).isoformat()}"}
    dag_run = run_dag(dags["netskope_network"], NOW_HOUR, run_conf=conf)
    assert dag_run.state == "success"
    assert (dag_run.data_interval_start, dag_run.data_interval_end) == (utc(NOW_HOUR - HOUR), utc(NOW_HOUR)), (
        "Airflow's data interval is the logical date's; the window pulled is the custom one"
    )
    assert window_label(dag_run) == conf["window"], "the fetch task's label shows the window it pulled"
    expected = expected_messages(simulator, "network", *window)
    assert sum(expected.values()) == 60
    logs = moto_server.client("logs")
    assert home_stream_events(logs, "network", *window) == expected, "each record in its hour's stream"
    assert stream_events(moto_server, "network", *window) == {}, "no stream of the custom window itself"


def reschedule_dates(dag_run, task_id: str) -> list[datetime]:
    """When Airflow was told to run ``task_id`` of ``dag_run`` again (its TaskReschedule rows)."""
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(TaskReschedule.reschedule_date)
        if AIRFLOW_V_3_0_PLUS:
            query = query.filter(TaskReschedule.ti_id == dag_run.get_task_instance(task_id, session=session).id)
        else:
            query = query.filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id)
        return [row.reschedule_date for row in query]


def test_open_window_waits_out_its_settle_delay_and_misses_no_late_record(
    dags, simulator, moto_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window still open when its run starts: fetch gives its slot back until end + settle, then
    pulls every record, including those the tenant inserts after the run started."""
    dag = dags["netskope_infrastructure"]
    monkeypatch.setattr(dag.get_task("fetch"), "settle_seconds", 2)
    began = int(datetime.now(UTC).timestamp())
    # dag.test() reaches fetch ~5 s after this (more under load): the window closes well after that.
    window = (began - 6, began + 20)
    late = generate("infrastructure", 12, *window, seed=5)
    arriving = [record for record in late if record["_insertion_epoch_timestamp"] > began + 5]
    assert len(arriving) >= 4, "a third of the records arrive well after the run started"
    simulator.inject("infrastructure", late)
    conf = {"window": f"{utc(window[0]).isoformat()}/{utc(window[1]).isoformat()}"}

    dag_run = run_dag(dag, NOW_HOUR, run_conf=conf)

    assert dag_run.state == "success"
    # Each reschedule asks for end + settle (Airflow 2's dag.test() polls the task until then).
    assert set(reschedule_dates(dag_run, "fetch")) == {utc(window[1] + 2)}
    expected = expected_messages(simulator, "infrastructure", *window)
    assert sum(expected.values()) == 12
    assert home_stream_events(moto_server.client("logs"), "infrastructure", *window) == expected
    assert task_result(dag_run, "deliver")["fetched"] == 12


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2 gives every run a logical date and a data interval")
def test_run_without_data_interval_fails(dags) -> None:
    dag_run = run_dag(dags["netskope_alert"], None)
    assert dag_run.state == "failed"
    assert dag_run.get_task_instance("fetch").state == "failed"
