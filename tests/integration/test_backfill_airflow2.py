"""Airflow 2.11's backfill: ``airflow dags backfill`` runs the windows itself (no scheduler needed).

The DebugExecutor runs the tasks inside the backfill command: the SequentialExecutor's process per
task costs ~40 s per task on a loaded CI machine, minutes for this test, and adds nothing the
dag.test() runs do not already cover (the tasks themselves run the same code).

Two hourly windows are backfilled; CloudWatch must then hold each window's ground truth exactly.
A second backfill with ``--reset-dagruns`` over one delivered window and one new one must still
leave exactly one copy of each record. (Airflow 3's ``airflow backfill create`` is test_backfill.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from deployment import Deployment, deployment_env, iso
from test_backfill import DAG_ID, WINDOWS, stream_events

from netskope_provider.compat import AIRFLOW_V_3_0_PLUS
from netskope_provider.demo import expected_messages
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        AIRFLOW_V_3_0_PLUS,
        reason="`airflow dags backfill` is Airflow 2; test_backfill.py covers `airflow backfill create`",
    ),
]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(seed=6, start=WINDOWS[0][0], end=WINDOWS[2][1], volume={"audit": 90})
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture(scope="module")
def deployment(simulator: SimulatorServer, moto_server, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    home = tmp_path_factory.mktemp("airflow2-backfill-home")
    env = deployment_env(
        home,
        simulator,
        moto_server,
        {
            "AIRFLOW__CORE__EXECUTOR": "DebugExecutor",
            "NETSKOPE_STAGING_BASE": f"file://{home / 'staging'}",
            "NETSKOPE_START_DATE": iso(WINDOWS[0][0]),
            "NETSKOPE_RETRIES": "0",
        },
    )
    deployment = Deployment(home, env)
    deployment.cli(["db", "migrate"], ["pools", "set", "netskope_api", "2", "Netskope API calls"])
    return deployment


def dags_backfill(deployment: Deployment, windows: list[tuple[int, int]], *extra: str) -> None:
    """``airflow dags backfill -s FIRST_START -e LAST_START``: logical dates are the windows' starts."""
    deployment.cli(
        ["dags", "backfill", "--start-date", iso(windows[0][0]), "--end-date", iso(windows[-1][0]), *extra, DAG_ID]
    )


@pytest.mark.timeout(900)
def test_dags_backfill_delivers_each_window_exactly_and_a_reset_rerun_adds_nothing(
    deployment, simulator, moto_server
) -> None:
    dags_backfill(deployment, WINDOWS[:2])
    runs = deployment.query(
        "SELECT data_interval_start, state FROM dag_run WHERE dag_id = :dag_id ORDER BY 1", dag_id=DAG_ID
    )
    assert [state for _, state in runs] == ["success", "success"]
    for start, end in WINDOWS[:2]:
        expected = expected_messages(simulator, "audit", start, end)
        assert sum(expected.values()) > 0
        assert stream_events(moto_server, start, end) == expected

    dags_backfill(deployment, WINDOWS[1:3], "--reset-dagruns", "--yes")
    runs = deployment.query("SELECT state FROM dag_run WHERE dag_id = :dag_id", dag_id=DAG_ID)
    assert [state for (state,) in runs] == ["success"] * 3
    for start, end in WINDOWS[:3]:
        assert stream_events(moto_server, start, end) == expected_messages(simulator, "audit", start, end)
