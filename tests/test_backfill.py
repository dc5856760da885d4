"""A real scheduler-driven backfill: api-server, scheduler and dag-processor started here, stopped by PID.

Three hourly windows are backfilled with ``airflow backfill create``; CloudWatch must then hold each
window's ground truth exactly. A second backfill over two delivered windows and one new one
(``--reprocess-behavior completed``) must still leave exactly one copy of each record.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import REPO, free_port, wait_for_port
from netskope_provider.compat import AIRFLOW_V_3_0_PLUS
from netskope_provider.demo import canonical, expected_messages, stream_documents
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="`airflow backfill create` is Airflow 3; test_backfill_airflow2.py covers `airflow dags backfill`"),
]

HOUR = 3600
DAG_ID = "netskope_audit"
FIRST = int(time.time()) // HOUR * HOUR - 6 * HOUR
WINDOWS = [(FIRST + i * HOUR, FIRST + (i + 1) * HOUR) for i in range(4)]
BIN = Path(sys.executable).parent
RUN_TIMEOUT = 300
CLI_BATCH = """
import json, sys
from airflow.cli import cli_parser
parser = cli_parser.get_parser()
for command in json.loads(sys.argv[1]):
    args = parser.parse_args(command)
    args.func(args)
"""


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat()


class Deployment:
    """An isolated Airflow home plus the processes this test starts (and must stop)."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def cli(self, *commands: list[str]) -> None:
        """Run Airflow CLI commands in order, in one interpreter (each ``airflow`` start costs seconds)."""
        done = subprocess.run([sys.executable, "-c", CLI_BATCH, json.dumps(commands)], env=self.env,
                              capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise AssertionError(f"airflow {commands} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    def start(self, name: str, *args: str) -> None:
        with open(self.home / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
            self.processes.append((name, subprocess.Popen(
                [str(BIN / "airflow"), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )))

    def stop(self, names: tuple[str, ...] | None = None) -> None:
        """SIGTERM each started process's own group (it includes the executor's workers), then SIGKILL.

        ``names`` limits this to those processes (by the name given to :meth:`start`).
        """
        chosen = [(n, p) for n, p in self.processes if names is None or n in names]
        for _, process in chosen:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in chosen:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes = [(n, p) for n, p in self.processes if (n, p) not in chosen]

    def query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def wait_for_backfill(self, from_epoch: int, to_epoch: int) -> None:
        """Until the newest backfill is completed and its runs ended; fail with the process logs otherwise."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            rows = self.query(
                "SELECT b.completed_at, r.state FROM backfill b LEFT JOIN dag_run r ON r.backfill_id = b.id "
                "WHERE b.id = (SELECT max(id) FROM backfill WHERE dag_id = ?)", DAG_ID,
            )
            if rows and rows[0][0] and all(state in ("success", "failed") for _, state in rows):
                assert [state for _, state in rows] == ["success"] * len(rows), self.logs()
                return
            time.sleep(2)
        raise AssertionError(f"backfill {iso(from_epoch)}..{iso(to_epoch)} did not finish in {RUN_TIMEOUT} s\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.home.glob("*.log")))


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(seed=5, start=WINDOWS[0][0], end=WINDOWS[-1][1], volume={"audit": 120})
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture(scope="module")
def deployment(simulator: SimulatorServer, moto_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("airflow-backfill-home")
    api_port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW_CONN_NETSKOPE_DEFAULT": json.dumps({
            "conn_type": "netskope", "host": simulator.host, "password": simulator.token,
            "extra": {"allow_non_goskope_host": True, "scheme": "http"},
        }),
        "AIRFLOW_CONN_AWS_DEFAULT": moto_server.aws_conn_uri_json(),
        "NETSKOPE_STAGING_BASE": f"file://{home / 'staging'}",
        "NETSKOPE_START_DATE": iso(WINDOWS[0][0]),
        "NETSKOPE_RETRY_DELAY_SECONDS": "5",
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    deployment = Deployment(home, env)
    deployment.cli(
        ["db", "migrate"],
        ["pools", "set", "netskope_api", "2", "Netskope API calls"],
        ["dags", "reserialize"],
        ["dags", "unpause", DAG_ID],
    )
    try:
        deployment.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(api_port))
        wait_for_port(api_port, timeout=180)  # workers call its Execution API: start it first
        deployment.start("scheduler", "scheduler")
        deployment.start("dag-processor", "dag-processor")
        yield deployment
    finally:
        deployment.stop()


def stream_events(moto_server, start: int, end: int) -> Counter[bytes]:
    return Counter(canonical(d) for d in stream_documents(moto_server.client("logs"), "audit", start, end))


def backfill(deployment: Deployment, windows: list[tuple[int, int]], *extra: str) -> None:
    """Create the backfill while the scheduler is stopped, then let the scheduler run it.

    SQLite allows one writer at a time: ``backfill create`` racing a busy scheduler (or the
    dag-processor) fails with "database is locked" and may leave a half-created backfill behind.
    A production deployment uses PostgreSQL, where they write concurrently.
    """
    deployment.stop(("scheduler", "dag-processor"))
    deployment.cli(["backfill", "create", "--dag-id", DAG_ID, "--from-date", iso(windows[0][0]),
                    "--to-date", iso(windows[-1][0]), "--max-active-runs", "2", *extra])
    deployment.start("scheduler", "scheduler")
    deployment.start("dag-processor", "dag-processor")
    deployment.wait_for_backfill(windows[0][0], windows[-1][0])


@pytest.mark.timeout(1200)
def test_backfill_delivers_each_window_exactly_and_a_rerun_adds_nothing(deployment: Deployment, simulator, moto_server) -> None:
    backfill(deployment, WINDOWS[:3])
    runs = deployment.query(
        "SELECT data_interval_start, data_interval_end FROM dag_run WHERE dag_id = ? AND run_type = 'backfill' ORDER BY 1", DAG_ID,
    )
    assert len(runs) == 3
    for start, end in WINDOWS[:3]:
        expected = expected_messages(simulator, "audit", start, end)
        assert sum(expected.values()) > 0
        assert stream_events(moto_server, start, end) == expected

    backfill(deployment, WINDOWS[1:], "--reprocess-behavior", "completed")
    for start, end in WINDOWS:
        assert stream_events(moto_server, start, end) == expected_messages(simulator, "audit", start, end)
