"""The eight DAGs: they import cleanly, have real (non-empty) data intervals, and are configurable."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pendulum
import pytest
from airflow.timetables.base import TimeRestriction
from airflow_helpers import core_timetable
from conftest import REPO

from netskope_provider.compat import (
    AIRFLOW_V_3_0_PLUS,
    RETRY_EXPONENTIAL_BACKOFF,
    AirflowFailException,
    AirflowRescheduleException,
    CronDataIntervalTimetable,
    DagBag,
)
from netskope_provider.exceptions import WindowError
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.operators.fetch import NetskopeFetchOperator
from netskope_provider.windows import Window, resolve

DAG_IDS = sorted(f"netskope_{name}" for name in LOG_TYPES)
#: The log-type DAGs plus the reconciliation DAG (tests/integration/test_reconcile.py covers its shape and runs).
ALL_DAG_IDS = sorted([*DAG_IDS, "netskope_reconcile"])
UTC = UTC


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(REPO / "dags"))


def load_dag_module():
    """Import dags/netskope_dags.py afresh, so environment changes made by a test take effect."""
    spec = importlib.util.spec_from_file_location("netskope_dags_under_test", REPO / "dags" / "netskope_dags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dagbag_imports_the_eight_dags_without_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == ALL_DAG_IDS


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_shape(dagbag: DagBag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    log_type = dag_id.removeprefix("netskope_")
    fetch, to_ocsf, deliver = (dag.get_task(task_id) for task_id in ("fetch", "to_ocsf", "deliver"))
    assert fetch.log_type == log_type
    assert to_ocsf.upstream_task_ids == {"fetch"} and deliver.upstream_task_ids == {"to_ocsf"}
    assert fetch.pool == "netskope_api"
    assert fetch.settle_seconds == 900
    assert {task.retries for task in dag.tasks} == {3}
    assert {task.retry_exponential_backoff for task in dag.tasks} == {RETRY_EXPONENTIAL_BACKOFF}
    assert dag.max_active_runs == 4 and dag.catchup is False
    assert log_type in dag.tags and "netskope" in dag.tags
    assert LOG_TYPES[log_type].rbac_permission in dag.doc_md
    assert dag.params["window_start"] is None and dag.params["window_end"] is None


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_timetable_gives_hourly_non_empty_intervals(dagbag: DagBag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    timetable = core_timetable(dag.timetable)
    first = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=pendulum.datetime(2026, 11, 2, 5), latest=None, catchup=True),
    )
    assert first is not None
    assert (first.data_interval.start, first.data_interval.end) == (
        pendulum.datetime(2026, 11, 2, 5),
        pendulum.datetime(2026, 11, 2, 6),
    )
    manual = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 11, 2, 5, 30))
    assert (manual.start, manual.end) == (pendulum.datetime(2026, 11, 2, 4), pendulum.datetime(2026, 11, 2, 5))


def test_environment_shapes_one_dag_or_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETSKOPE_SCHEDULE_AUDIT", "*/15 * * * *")
    monkeypatch.setenv("NETSKOPE_CATCHUP", "true")
    monkeypatch.setenv("NETSKOPE_START_DATE", "2026-11-01")
    monkeypatch.setenv("NETSKOPE_POOL", "netskope_small")
    monkeypatch.setenv("NETSKOPE_SETTLE_SECONDS", "60")
    module = load_dag_module()
    audit, page = module.netskope_audit, module.netskope_page
    assert core_timetable(audit.timetable).summary == "*/15 * * * *"
    assert core_timetable(page.timetable).summary == "0 * * * *"
    interval = core_timetable(audit.timetable).infer_manual_data_interval(
        run_after=pendulum.datetime(2026, 11, 2, 5, 20)
    )
    assert interval.end - interval.start == timedelta(minutes=15)
    assert audit.catchup is True and page.catchup is True
    assert audit.start_date == pendulum.datetime(2026, 11, 1)
    assert audit.get_task("fetch").pool == "netskope_small"
    assert audit.get_task("fetch").settle_seconds == 60


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("NETSKOPE_CATCHUP", "sometimes", "not a boolean"),
        ("NETSKOPE_RETRIES", "-1", "must be at least 0"),
        ("NETSKOPE_MAX_ACTIVE_RUNS", "many", "not a whole number"),
        ("NETSKOPE_START_DATE", "yesterday", "not an ISO-8601 date"),
        ("NETSKOPE_SCHEDULE", "hourly", "not a cron expression"),
    ],
)
def test_bad_setting_fails_the_import_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, hint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=hint) as error:
        load_dag_module()
    assert variable in str(error.value)


def test_run_without_data_interval_fails_and_says_how_to_trigger() -> None:
    operator = NetskopeFetchOperator(task_id="fetch", log_type="audit")
    context = {"ti": SimpleNamespace(dag_id="netskope_audit"), "params": {}}
    with pytest.raises(AirflowFailException) as error:
        operator.execute(context)
    message = str(error.value)
    assert "no data interval" in message
    assert "airflow dags trigger netskope_audit --logical-date" in message
    assert "window_start" in message and "window_end" in message


def test_custom_window_wins_over_the_data_interval() -> None:
    interval = (datetime(2026, 11, 2, 4, tzinfo=UTC), datetime(2026, 11, 2, 5, tzinfo=UTC))
    assert resolve(None, None, *interval) == (Window(1793592000, 1793595600), False)
    assert resolve("2026-11-01T00:00:00Z", "2026-11-02T00:00:00+00:00", *interval) == (
        Window(1793577600 - 86400, 1793577600),
        True,
    )


@pytest.mark.parametrize(
    ("start", "end", "hint"),
    [
        ("2026-11-02T04:00:00Z", "", "Set both window_start and window_end"),
        ("2026-11-02T04:00:00.5Z", "2026-11-02T05:00:00Z", "fraction of a second"),
        ("2026-11-02T05:00:00Z", "2026-11-02T04:00:00Z", "must be after window_start"),
        ("not a date", "2026-11-02T05:00:00Z", "not an ISO-8601 date-time"),
    ],
)
def test_bad_custom_window_is_refused_with_a_hint(start: str, end: str, hint: str) -> None:
    with pytest.raises(WindowError, match=hint):
        resolve(start, end, None, None)


def test_open_window_is_rescheduled_until_it_has_settled() -> None:
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    operator = NetskopeFetchOperator(task_id="fetch", log_type="page", settle_seconds=600)
    context = {"data_interval_start": end - timedelta(hours=1), "data_interval_end": end}
    with pytest.raises(AirflowRescheduleException) as reschedule:
        operator.execute(context)
    assert reschedule.value.reschedule_date == end + timedelta(seconds=600)


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="DagBag(known_pools=...) pool warnings are new in Airflow 3")
def test_missing_pool_is_reported_for_every_dag() -> None:
    without_pool = DagBag(dag_folder=str(REPO / "dags"), known_pools={"default_pool"})
    messages = sorted(warning.message for warning in without_pool.dag_warnings)
    assert messages == [f"Dag '{dag_id}' references non-existent pools: ['netskope_api']" for dag_id in ALL_DAG_IDS]
    with_pool = DagBag(dag_folder=str(REPO / "dags"), known_pools={"default_pool", "netskope_api"})
    assert with_pool.dag_warnings == set()


def test_run_settings_come_from_argument_then_variable_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from netskope_provider import config

    assert config.log_group_for("audit") == "/netskope/ocsf/audit"
    monkeypatch.setenv("NETSKOPE_LOG_GROUP", "/from-env/{log_type}")
    assert config.log_group_for("audit") == "/from-env/audit"
    monkeypatch.setenv("AIRFLOW_VAR_NETSKOPE_LOG_GROUP", "/from-variable/{log_type}")
    assert config.log_group_for("audit") == "/from-variable/audit"
    assert config.log_group_for("audit", "/from-argument") == "/from-argument"
    monkeypatch.setenv("AIRFLOW_VAR_NETSKOPE_STAGING_RETENTION_HOURS", "six")
    with pytest.raises(ValueError, match="netskope_staging_retention_hours='six' is not a whole number"):
        config.staging_retention()
