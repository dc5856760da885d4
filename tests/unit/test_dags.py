"""The eight DAGs: they import cleanly, have real (non-empty) data intervals, and are configurable."""

from __future__ import annotations

import copy
import importlib.util
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pendulum
import pytest
from airflow.exceptions import ParamValidationError
from airflow.timetables.base import TimeRestriction
from airflow_helpers import core_timetable
from conftest import REPO

from netskope_provider import cli
from netskope_provider.compat import (
    AIRFLOW_V_3_0_PLUS,
    RETRY_EXPONENTIAL_BACKOFF,
    AirflowFailException,
    AirflowRescheduleException,
    CronDataIntervalTimetable,
    DagBag,
)
from netskope_provider.dag_factory import DAG_FILE, DAG_FILE_NAME
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
    assert dag.params["window"] is None


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
    assert "param window to start/end" in message


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


# --- the DAG file a deployment installs -------------------------------------------------------


def test_the_repositorys_dags_folder_is_exactly_the_installed_dag_file() -> None:
    assert [path.name for path in (REPO / "dags").iterdir() if path.suffix == ".py"] == [DAG_FILE_NAME]
    assert (REPO / "dags" / DAG_FILE_NAME).read_text(encoding="utf-8") == DAG_FILE
    assert len(DAG_FILE.splitlines()) <= 10
    assert "airflow" in DAG_FILE.lower() and "dag" in DAG_FILE.lower(), "Airflow's safe mode parses it"


def test_install_dags_writes_the_file_and_keeps_a_different_one(tmp_path, capsys) -> None:
    folder = tmp_path / "dags"
    assert cli.main(["install-dags", "--dags-folder", str(folder)]) == 0
    assert (folder / DAG_FILE_NAME).read_text(encoding="utf-8") == DAG_FILE
    assert cli.main(["install-dags", "--dags-folder", str(folder)]) == 0, "the same file again is fine"
    (folder / DAG_FILE_NAME).write_text("# someone else's DAGs\n")
    assert cli.main(["install-dags", "--dags-folder", str(folder)]) == 1
    assert "--force" in capsys.readouterr().err
    assert (folder / DAG_FILE_NAME).read_text() == "# someone else's DAGs\n"
    assert cli.main(["install-dags", "--dags-folder", str(folder), "--force"]) == 0
    assert (folder / DAG_FILE_NAME).read_text(encoding="utf-8") == DAG_FILE


def test_install_dags_defaults_to_airflows_dags_folder(tmp_path, monkeypatch) -> None:
    assert cli.default_dags_folder() == REPO / "dags", "conftest points Airflow's [core] dags_folder there"
    monkeypatch.setattr(cli, "default_dags_folder", lambda: tmp_path)
    assert cli.main(["install-dags"]) == 0
    assert (tmp_path / DAG_FILE_NAME).read_text(encoding="utf-8") == DAG_FILE


# --- the custom window, checked as Airflow checks a trigger's conf ----------------------------


def validate_trigger_conf(dag, conf: dict) -> None:
    """What Airflow does with a trigger's conf before it creates the run, on the DAG as the API / webserver holds it
    (Airflow 3: the serialized DAG's ``deep_merge(conf).validate()``; 2.11: a copy of its params updated and validated).
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.serialization.serialized_objects import DagSerialization

        served = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        served.params.deep_merge(conf).validate()
    else:
        from airflow.serialization.serialized_objects import SerializedDAG

        served = SerializedDAG.deserialize_dag(SerializedDAG.serialize_dag(dag))
        params = copy.deepcopy(served.params)
        params.update(conf)
        params.validate()


GOOD_WINDOWS = [
    None,
    "2026-11-02T04:00:00Z/2026-11-02T05:00:00Z",
    "2026-11-02T04:00:00+00:00/2026-11-02T04:00:01+00:00",
    "2026-12-31T23:59:59Z/2027-01-01T00:00:00+00:00",
    "2026-11-02T04:09:00Z/2026-11-02T04:10:00Z",
]
BAD_WINDOWS = {
    "reversed": "2026-11-02T05:00:00Z/2026-11-02T04:00:00Z",
    "empty": "2026-11-02T04:00:00Z/2026-11-02T04:00:00+00:00",
    "reversed across a year": "2027-01-01T00:00:00Z/2026-12-31T23:00:00Z",
    "year 9999": "9999-01-01T00:00:00Z/9999-01-01T01:00:00Z",
    "year 1970": "1970-01-01T00:00:00Z/1970-01-01T01:00:00Z",
    "one end": "2026-11-02T04:00:00Z",
    "fraction of a second": "2026-11-02T04:00:00.5Z/2026-11-02T05:00:00Z",
    "not UTC": "2026-11-02T04:00:00+02:00/2026-11-02T05:00:00+02:00",
    "no zone": "2026-11-02T04:00:00/2026-11-02T05:00:00",
    "month 13": "2026-13-02T04:00:00Z/2026-13-02T05:00:00Z",
    "hour 24": "2026-11-02T24:00:00Z/2026-11-03T01:00:00Z",
    "words": "yesterday/today",
    "a number": 1793592000,
}


@pytest.mark.parametrize("window", GOOD_WINDOWS)
def test_trigger_accepts_a_well_formed_window(dagbag: DagBag, window) -> None:
    validate_trigger_conf(dagbag.dags["netskope_audit"], {"window": window})


#: The rule of the param's schema each bad window breaks, as the refusal names it (the rule's description).
FORMAT_RULE = r"Failed validating 'pattern' in schema\['allOf'\]\[0\]:\s+\{'description': 'start/end: YYYY-MM-DDTHH:(MM:SS|00:00)Z, years 2000-2099'"
ORDER_RULE = (
    r"Failed validating 'pattern' in schema\['allOf'\]\[1\]:\s+\{'description': 'the end must be after the start'"
)
BROKEN_RULE = dict.fromkeys(BAD_WINDOWS, FORMAT_RULE) | {
    "reversed": ORDER_RULE,
    "reversed across a year": ORDER_RULE,
    "empty": ORDER_RULE,
    "a number": r"is not of type 'null', 'string'",
}


@pytest.mark.parametrize("case", sorted(BAD_WINDOWS))
def test_trigger_refuses_a_bad_window_before_the_run_exists(dagbag: DagBag, case: str) -> None:
    for dag_id in ("netskope_audit", "netskope_reconcile"):
        with pytest.raises(ParamValidationError, match=f"(?s)^Invalid input for param window: .*{BROKEN_RULE[case]}"):
            validate_trigger_conf(dagbag.dags[dag_id], {"window": BAD_WINDOWS[case]})


def test_reconcile_windows_are_whole_hours(dagbag: DagBag) -> None:
    reconcile = dagbag.dags["netskope_reconcile"]
    validate_trigger_conf(reconcile, {"window": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z"})
    with pytest.raises(ParamValidationError, match="YYYY-MM-DDTHH:00:00Z"):
        validate_trigger_conf(reconcile, {"window": "2026-11-02T00:30:00Z/2026-11-03T00:00:00Z"})
    with pytest.raises(ParamValidationError, match="log_types"):
        validate_trigger_conf(reconcile, {"log_types": ["audit", "audits"]})


def test_the_window_param_reaches_the_operators_as_start_and_end(dagbag: DagBag) -> None:
    """The tasks' window arguments render from the param: its two halves, or empty for the data interval."""
    from jinja2.sandbox import SandboxedEnvironment

    for dag_id, task_id in (("netskope_audit", "fetch"), ("netskope_reconcile", "reconcile")):
        task = dagbag.dags[dag_id].get_task(task_id)
        render = lambda template, window: SandboxedEnvironment().from_string(template).render(params={"window": window})
        assert render(task.window_start, WINDOW_TEXT) == "2026-11-02T04:00:00Z"
        assert render(task.window_end, WINDOW_TEXT) == "2026-11-02T05:00:00Z"
        assert render(task.window_start, None) == render(task.window_end, None) == ""


WINDOW_TEXT = "2026-11-02T04:00:00Z/2026-11-02T05:00:00Z"
