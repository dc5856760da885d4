"""Issue 7 items 1-4: metrics, the delivery task's summary table, the CloudWatch extra link, the delivered asset.

The tenant is the simulator, AWS the real ``moto_server``. Metrics go to a recording stand-in for
Airflow's ``Stats`` (what is under test is which metrics the operators emit, with which values).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, airflow_with_simulator
from deployment import FAST_CLIENT, netskope_connection
from pipeline_tasks import run_pipeline

from netskope_provider import metrics
from netskope_provider.assets import delivered_asset
from netskope_provider.compat import AIRFLOW_V_3_0_PLUS, DagBag, dag_test
from netskope_provider.delivery import stream_name
from netskope_provider.links import CloudWatchWindowLink
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.ocsf.mapper import map_record
from netskope_provider.pipeline import summary_table
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
SPAN = (NOW_HOUR - 3 * HOUR, NOW_HOUR - HOUR)
WINDOW = (NOW_HOUR - 2 * HOUR, NOW_HOUR - HOUR)


class RecordingStats:
    """Stands in for Airflow's ``Stats``: keeps every incr/gauge call as (kind, name, value, tags)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float, dict[str, str]]] = []

    def incr(self, stat: str, count: int = 1, rate: float = 1, *, tags: dict[str, str] | None = None) -> None:
        self.calls.append(("incr", stat, count, dict(tags or {})))

    def gauge(
        self, stat: str, value: float, rate: float = 1, delta: bool = False, *, tags: dict[str, str] | None = None
    ) -> None:
        self.calls.append(("gauge", stat, value, dict(tags or {})))

    def values(self, kind: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Summed values by (name, sorted tags) for one kind of call."""
        totals: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        for call_kind, name, value, tags in self.calls:
            if call_kind == kind:
                totals[(name, tuple(sorted(tags.items())))] += value
        return dict(totals)


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(seed=71, start=SPAN[0], end=SPAN[1], volume=dict.fromkeys(LOG_TYPES, 60))
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture
def tenant(simulator: SimulatorServer, moto_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimulatorServer:
    moto_server.reset()
    monkeypatch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", netskope_connection(simulator, **FAST_CLIENT))
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", f"file://{tmp_path / 'staging'}")
    return simulator


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> RecordingStats:
    recorder = RecordingStats()
    monkeypatch.setattr(metrics, "Stats", recorder)
    return recorder


def stream_bytes(moto_server, log_type: str, start: int, end: int) -> int:
    """UTF-8 bytes of every message in the window's stream, read back from CloudWatch."""
    logs = moto_server.client("logs")
    events = logs.get_log_events(
        logGroupName=f"/netskope/ocsf/{log_type}", logStreamName=stream_name(log_type, start, end), startFromHead=True
    )["events"]
    return sum(len(event["message"].encode()) for event in events)


def test_metrics_of_a_known_window(tenant, moto_server, recorded: RecordingStats) -> None:
    """Every metric of the list, for the alert window, against the simulator's and CloudWatch's own figures."""
    log_type = "alert"
    truth = tenant.ground_truth(log_type, *WINDOW)
    mapped = [map_record(record, log_type) for record in truth]
    assert len(truth) > 0 and {m.kind for m in mapped} >= {"ocsf"}
    requests_before, throttled_before = sum(tenant.stats.requests.values()), tenant.stats.throttled
    tenant.faults.throttle_next = 2
    started = time.time()
    summary = run_pipeline(log_type, *WINDOW, run_id="metrics_known_window")
    finished = time.time()
    assert tenant.faults.throttle_next == 0, "both 429s were served to this run"

    tags = (("log_type", log_type), ("tenant", tenant.host.replace(":", "_")))  # a stat name takes no ":"
    counters = recorded.values("incr")
    expected = {
        (metrics.RECORDS_FETCHED, tags): len(truth),
        (metrics.API_REQUESTS, tags): sum(tenant.stats.requests.values()) - requests_before,
        (metrics.API_RATE_LIMITED, tags): tenant.stats.throttled - throttled_before,
        (metrics.API_RETRIES, tags): 2,
        (metrics.RECORDS_RAW, tags): sum(m.kind == "raw" for m in mapped),
        (metrics.RECORDS_REJECTED, tags): sum(m.kind == "rejected" for m in mapped),
        (metrics.RECORDS_DELIVERED, tags): sum(m.kind != "rejected" for m in mapped),
        (metrics.BYTES_DELIVERED, tags): stream_bytes(moto_server, log_type, *WINDOW),
    }
    by_class = Counter(str(m.class_uid) for m in mapped if m.kind == "ocsf")
    expected |= {(metrics.RECORDS_OCSF, tuple(sorted((*tags, ("class_uid", uid))))): n for uid, n in by_class.items()}
    assert counters == expected
    assert expected[(metrics.API_RATE_LIMITED, tags)] == 2 and expected[(metrics.BYTES_DELIVERED, tags)] > 0
    assert summary["tenant"] == tenant.host

    (lag,) = recorded.values("gauge").items()
    assert lag[0] == (metrics.LAG_SECONDS, tags)
    assert started - WINDOW[1] <= lag[1] <= finished - WINDOW[1]


def test_a_rerun_counts_only_what_it_wrote(tenant, recorded: RecordingStats) -> None:
    """Delivered records and bytes are what this attempt sent, so their sum over time is what CloudWatch ingested."""
    run_pipeline("audit", *WINDOW, run_id="metrics_first")
    recorded.calls.clear()
    run_pipeline("audit", *WINDOW, run_id="metrics_rerun")
    tags = (("log_type", "audit"), ("tenant", tenant.host.replace(":", "_")))
    counters = recorded.values("incr")
    assert counters[(metrics.RECORDS_FETCHED, tags)] == len(tenant.ground_truth("audit", *WINDOW)) > 0
    assert counters[(metrics.RECORDS_DELIVERED, tags)] == counters[(metrics.BYTES_DELIVERED, tags)] == 0


def test_metrics_go_through_airflows_stats(tenant) -> None:
    """Unpatched, the calls reach Airflow's own Stats facade (a no-op backend here) with signatures it accepts."""
    summary = run_pipeline("infrastructure", *WINDOW, run_id="metrics_real_stats")
    metrics.emit_delivery(summary, time.time())


def test_delivery_log_ends_with_the_window_table(
    tenant, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    summary = run_pipeline("network", *WINDOW, run_id="summary_table")
    table = summary_table(summary)
    # Airflow 3 logs through structlog (to stdout here), Airflow 2 through the logging module.
    out = capsys.readouterr().out
    log = out if table in out else caplog.text
    assert table in log, "the operator's log holds the table"
    assert "OcsfToCloudWatchLogsOperator" not in log.split(table, 1)[1].split("\n", 1)[1], (
        "the deliver log ends with it"
    )
    rows = dict(line.rsplit(None, 1) for line in table.splitlines()[1:])
    numbers = {label.strip(): int(value.replace(",", "")) for label, value in rows.items()}
    assert numbers["fetched"] == summary["fetched"] == len(tenant.ground_truth("network", *WINDOW)) > 0
    assert numbers["delivered"] == summary["delivered"] and numbers["new"] == summary["delivery"]["delivered"]
    for uid, count in summary["ocsf"].items():
        assert numbers[f"OCSF class {uid}"] == count
    for label in ("raw", "rejected", "quarantined at fetch", "already present", "restamped", "refused by CloudWatch"):
        assert label in numbers
    assert table.splitlines()[0].startswith(f"network [{summary['window']['start_iso']}, ")


def test_console_link_escapes_group_and_stream() -> None:
    link = CloudWatchWindowLink().format_link(
        region_name="eu-west-1", aws_domain="aws.amazon.com", log_group="/netskope/ocsf/alert", log_stream="a/b:c"
    )
    assert link == (
        "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/"
        "$252Fnetskope$252Focsf$252Falert/log-events/a$252Fb$253Ac"
    )
    assert (
        CloudWatchWindowLink().format_link(region_name="eu-west-1", aws_domain=None, log_group="/g", log_stream="s")
        == ""
    )


# --- a whole DAG run: the link of the finished task instance, the asset as outlet and event ---------


@pytest.fixture(scope="module")
def dag_run(simulator: SimulatorServer, moto_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One ``dag.test()`` run of netskope_alert for WINDOW, in a fresh metadata DB."""
    with airflow_with_simulator(simulator, tmp_path_factory.mktemp("staging"), **FAST_CLIENT):
        bag = DagBag(dag_folder=str(REPO / "dags"))
        assert bag.import_errors == {}
        dag = bag.dags["netskope_alert"]
        if not AIRFLOW_V_3_0_PLUS:  # 2.x dag.test() records dataset events only for datasets already in the DB
            dag.sync_to_db()
        run = dag_test(dag, datetime.fromtimestamp(WINDOW[1], tz=UTC))
        assert run.state == "success"
        yield dag, run


def extra_link(dag: Any, run: Any) -> str | None:
    """The link as the UI renders it: from the serialized DAG and the finished task instance."""
    ti = run.get_task_instance("deliver")
    if not AIRFLOW_V_3_0_PLUS:
        return dag.get_task("deliver").get_extra_links(ti, CloudWatchWindowLink.name)
    from airflow.serialization.serialized_objects import DagSerialization

    served = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    return served.get_task("deliver").get_extra_links(ti, CloudWatchWindowLink.name)


def test_extra_link_is_not_offered_when_delivery_went_to_a_local_endpoint(dag_run) -> None:
    """The run delivered to moto_server (the AWS connection's endpoint_url): the AWS console has no such group."""
    dag, run = dag_run
    assert extra_link(dag, run) in ("", None)


@pytest.mark.parametrize(
    ("endpoint_url", "offered"),
    [
        (None, True),  # link data stored before the endpoint was recorded
        ("https://logs.eu-west-1.amazonaws.com", True),
        ("https://logs-fips.us-gov-west-1.amazonaws.com", True),
        ("https://vpce-0a1b2c3d-e4f5g6h7.logs.eu-west-1.vpce.amazonaws.com", True),
        ("https://logs.cn-north-1.amazonaws.com.cn", True),
        ("http://127.0.0.1:5000", False),
        ("http://localstack:4566", False),
        ("https://amazonaws.com.evil.example", False),
    ],
)
def test_console_link_only_for_aws_endpoints(endpoint_url: str | None, offered: bool) -> None:
    link = CloudWatchWindowLink().format_link(
        region_name="eu-west-1",
        aws_domain="aws.amazon.com",
        log_group="/netskope/ocsf/alert",
        log_stream="s",
        endpoint_url=endpoint_url,
    )
    assert link.startswith("https://console.aws.amazon.com/cloudwatch/") if offered else link == ""


def test_delivered_asset_is_the_outlet_and_gets_an_event(dag_run) -> None:
    dag, run = dag_run
    asset = delivered_asset("alert")
    assert asset.uri == "netskope://cloudwatch-logs/netskope/ocsf/alert?log_type=alert"
    assert dag.get_task("deliver").outlets == [asset]
    assert all(not dag.get_task(task_id).outlets for task_id in ("fetch", "to_ocsf"))
    from airflow.utils.session import create_session

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.asset import AssetEvent as Event
        from airflow.models.asset import AssetModel as Model

        event_of = Event.asset_id
    else:
        from airflow.models.dataset import DatasetEvent as Event  # type: ignore[no-redef]
        from airflow.models.dataset import DatasetModel as Model

        event_of = Event.dataset_id
    from sqlalchemy import select

    with create_session() as session:
        events = session.execute(
            select(Event.source_dag_id, Event.source_task_id, Event.source_run_id)
            .join(Model, Model.id == event_of)
            .where(Model.uri == asset.uri)
        ).all()
    assert [tuple(event) for event in events] == [("netskope_alert", "deliver", run.run_id)]


def test_every_dag_declares_one_asset_per_log_group_and_type() -> None:
    bag = DagBag(dag_folder=str(REPO / "dags"))
    outlets = {
        dag_id: dag.get_task("deliver").outlets
        for dag_id, dag in bag.dags.items()
        if dag_id.startswith("netskope_") and "deliver" in dag.task_ids
    }
    assert {dag_id: [a.uri for a in assets] for dag_id, assets in outlets.items()} == {
        f"netskope_{name}": [f"netskope://cloudwatch-logs/netskope/ocsf/{name}?log_type={name}"] for name in LOG_TYPES
    }


# --- the log group's retention (issue 17 item 2) ----------------------------------------------


def retention_of(moto_server, group: str) -> int | None:
    (found,) = moto_server.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return found.get("retentionInDays")


def test_a_created_log_group_carries_the_configured_retention(tenant, moto_server, monkeypatch) -> None:
    run_pipeline("audit", *WINDOW, run_id="retention_default")
    assert retention_of(moto_server, "/netskope/ocsf/audit") == 365, "the documented default"
    monkeypatch.setenv("NETSKOPE_LOG_GROUP_RETENTION_DAYS", "30")
    run_pipeline("page", *WINDOW, run_id="retention_env")
    assert retention_of(moto_server, "/netskope/ocsf/page") == 30
    monkeypatch.setenv("AIRFLOW_VAR_NETSKOPE_LOG_GROUP_RETENTION_DAYS", "0")
    run_pipeline("network", *WINDOW, run_id="retention_never")
    assert retention_of(moto_server, "/netskope/ocsf/network") is None, "0: never expire, as asked"


def test_an_existing_group_keeps_its_retention_and_one_without_is_reported(
    tenant, moto_server, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    logs = moto_server.client("logs")
    logs.create_log_group(logGroupName="/netskope/ocsf/alert")
    run_pipeline("alert", *WINDOW, run_id="retention_existing_none")
    warned = capsys.readouterr().out + caplog.text
    assert "/netskope/ocsf/alert has no retention" in warned and "put-retention-policy" in warned
    assert retention_of(moto_server, "/netskope/ocsf/alert") is None, "the owner's group is not changed"

    caplog.clear()
    logs.create_log_group(logGroupName="/netskope/ocsf/audit")
    logs.put_retention_policy(logGroupName="/netskope/ocsf/audit", retentionInDays=7)
    run_pipeline("audit", *WINDOW, run_id="retention_existing_seven")
    assert "has no retention" not in capsys.readouterr().out + caplog.text
    assert retention_of(moto_server, "/netskope/ocsf/audit") == 7


def test_a_retention_cloudwatch_does_not_offer_fails_with_the_values(tenant, monkeypatch) -> None:
    monkeypatch.setenv("NETSKOPE_LOG_GROUP_RETENTION_DAYS", "31")
    with pytest.raises(ValueError, match=r"use one of \(1, 3, 5, 7, 14, 30"):
        run_pipeline("audit", *WINDOW, run_id="retention_bad")
