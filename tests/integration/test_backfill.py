"""A real scheduler-driven backfill: api-server, scheduler and dag-processor started here, stopped by PID.

Three hourly windows are backfilled with ``airflow backfill create``; CloudWatch must then hold each
window's ground truth exactly. A second backfill over two delivered windows and one new one
(``--reprocess-behavior completed``) must still leave exactly one copy of each record.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from conftest import cloudwatch_window_events, free_port
from deployment import Deployment, deployment_env, iso

from netskope_provider.compat import AIRFLOW_V_3_0_PLUS
from netskope_provider.demo import expected_messages
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not AIRFLOW_V_3_0_PLUS,
        reason="`airflow backfill create` is Airflow 3; test_backfill_airflow2.py covers `airflow dags backfill`",
    ),
]

HOUR = 3600
DAG_ID = "netskope_audit"
FIRST = int(time.time()) // HOUR * HOUR - 6 * HOUR
WINDOWS = [(FIRST + i * HOUR, FIRST + (i + 1) * HOUR) for i in range(4)]
RUN_TIMEOUT = 300


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(seed=5, start=WINDOWS[0][0], end=WINDOWS[-1][1], volume={"audit": 120})
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture(scope="module")
def deployment(
    simulator: SimulatorServer, moto_server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("airflow-backfill-home")
    env = deployment_env(
        home,
        simulator,
        moto_server,
        {
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "NETSKOPE_STAGING_BASE": f"file://{home / 'staging'}",
            "NETSKOPE_START_DATE": iso(WINDOWS[0][0]),
            "NETSKOPE_RETRY_DELAY_SECONDS": "5",
        },
    )
    deployment = Deployment(home, env)
    deployment.cli(
        ["db", "migrate"],
        ["pools", "set", "netskope_api", "2", "Netskope API calls"],
        ["dags", "reserialize"],
        ["dags", "unpause", DAG_ID],
    )
    try:
        deployment.start_api_server()  # workers call its Execution API: start it first
        deployment.start("scheduler", "scheduler")
        deployment.start("dag-processor", "dag-processor")
        yield deployment
    finally:
        deployment.stop()


def stream_events(moto_server, start: int, end: int) -> Counter[bytes]:
    return cloudwatch_window_events(moto_server.client("logs"), "audit", start, end)


def backfill(deployment: Deployment, windows: list[tuple[int, int]], *extra: str) -> None:
    """Create the backfill while the scheduler is stopped, then let the scheduler run it.

    SQLite allows one writer at a time: ``backfill create`` racing a busy scheduler (or the
    dag-processor) fails with "database is locked" and may leave a half-created backfill behind.
    A production deployment uses PostgreSQL, where they write concurrently.
    """
    deployment.stop(("scheduler", "dag-processor"))
    deployment.cli(
        [
            "backfill",
            "create",
            "--dag-id",
            DAG_ID,
            "--from-date",
            iso(windows[0][0]),
            "--to-date",
            iso(windows[-1][0]),
            "--max-active-runs",
            "2",
            *extra,
        ]
    )
    deployment.start("scheduler", "scheduler")
    deployment.start("dag-processor", "dag-processor")
    deployment.wait_for_backfills([DAG_ID], RUN_TIMEOUT)


@pytest.mark.timeout(1200)
def test_backfill_delivers_each_window_exactly_and_a_rerun_adds_nothing(
    deployment: Deployment, simulator, moto_server
) -> None:
    backfill(deployment, WINDOWS[:3])
    runs = deployment.query(
        "SELECT data_interval_start, data_interval_end FROM dag_run WHERE dag_id = :dag_id AND run_type = 'backfill' ORDER BY 1",
        dag_id=DAG_ID,
    )
    assert len(runs) == 3
    for start, end in WINDOWS[:3]:
        expected = expected_messages(simulator, "audit", start, end)
        assert sum(expected.values()) > 0
        assert stream_events(moto_server, start, end) == expected

    backfill(deployment, WINDOWS[1:], "--reprocess-behavior", "completed")
    for start, end in WINDOWS:
        assert stream_events(moto_server, start, end) == expected_messages(simulator, "audit", start, end)
