"""A distributed deployment with no Docker: PostgreSQL metadata, Redis broker, two Celery workers, staging on S3.

api-server, scheduler, dag-processor and two Celery workers run as separate processes against the
local PostgreSQL (a fresh database, dropped afterwards) and Redis (a queue of this run's own), with
staging on ``moto_server``'s S3. A backfill of three hourly windows of all eight DAGs must leave
CloudWatch holding exactly each window's ground truth; the task instances must have run on both
workers and every staged file must be on S3. Skips, saying what is missing, without the services.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import cloudwatch_window_events, expected_home_events
from deployment import WORKER_NAME_ENV, Deployment, deployment_env, iso

from netskope_provider.compat import AIRFLOW_V_3_0_PLUS
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.pipeline import EVENTS_FILE, RAW_FILE
from netskope_provider.simulator import SimulatorConfig, SimulatorServer
from netskope_provider.staging import safe_name

pytestmark = [
    pytest.mark.integration,
    pytest.mark.services,
    pytest.mark.skipif(
        not AIRFLOW_V_3_0_PLUS,
        reason="the distributed deployment is Airflow 3's (api-server, "
        "dag-processor, Task SDK workers); on 2.11 test_backfill_airflow2.py covers the backfill",
    ),
]

HOUR = 3600
FIRST = int(time.time()) // HOUR * HOUR - 4 * HOUR
WINDOWS = [(FIRST + i * HOUR, FIRST + (i + 1) * HOUR) for i in range(3)]
DAG_IDS = {f"netskope_{log_type}": log_type for log_type in LOG_TYPES}
POSTGRES_PORT = 5432
REDIS_PORT = 6379
WORKERS = ("a", "b")
RUN_TIMEOUT = 600


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class IsolatedRun:
    """The names this run owns, so it touches nothing of another run's: database, queue, workers, bucket, log groups."""

    name: str  # netskope_it_<random>

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{POSTGRES_PORT}/{self.name}"

    @property
    def result_backend(self) -> str:
        return f"db+postgresql+psycopg2://postgres@127.0.0.1:{POSTGRES_PORT}/{self.name}"

    @property
    def bucket(self) -> str:
        return self.name.replace("_", "-")

    def worker(self, suffix: str) -> str:
        return f"{self.name}_{suffix}"

    def log_group(self, log_type: str) -> str:
        return f"/netskope/{self.name}/{log_type}"


def postgres_admin():
    """An autocommit connection to the server's ``postgres`` database (CREATE/DROP DATABASE)."""
    import psycopg2

    connection = psycopg2.connect(
        host="127.0.0.1", port=POSTGRES_PORT, user="postgres", dbname="postgres", connect_timeout=5
    )
    connection.autocommit = True
    return connection


def remove_queue_keys(name: str) -> None:
    """Delete the Redis keys of this run (its queue, bindings and worker mailboxes); nobody else's."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=REDIS_PORT)
    try:
        keys = list(client.scan_iter(match=f"*{name}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def run() -> Iterator[IsolatedRun]:
    """This run's names and a fresh PostgreSQL database; afterwards the database is dropped and the run's Redis keys deleted.

    Skips, naming what is missing, when PostgreSQL or Redis is not reachable or a client is not installed.
    """
    missing = [
        f"{label} on 127.0.0.1:{port}"
        for label, port in (("PostgreSQL", POSTGRES_PORT), ("Redis", REDIS_PORT))
        if not reachable(port)
    ]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (not reachable)")
    for module in ("psycopg2", "redis", "airflow.providers.celery"):
        pytest.importorskip(module, reason=f"needs {module} (pip install -e '.[test]')")
    import psycopg2

    owned = IsolatedRun(name=f"netskope_it_{secrets.token_hex(4)}")
    try:
        admin = postgres_admin()
    except psycopg2.OperationalError as error:
        pytest.skip(f"cannot connect to PostgreSQL on 127.0.0.1:{POSTGRES_PORT} as user postgres: {error}")
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{owned.name}"')
        yield owned
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{owned.name}" WITH (FORCE)')
        admin.close()
        remove_queue_keys(owned.name)


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(seed=23, start=WINDOWS[0][0], end=WINDOWS[-1][1], volume=dict.fromkeys(LOG_TYPES, 40))
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture(scope="module")
def deployment(
    run: IsolatedRun, simulator: SimulatorServer, moto_server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The five processes; each stopped by its process group's id when the module ends, failed or not."""
    home = tmp_path_factory.mktemp("airflow-distributed-home")
    moto_server.client("s3").create_bucket(Bucket=run.bucket)
    env = deployment_env(
        home,
        simulator,
        moto_server,
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": run.database_url,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": run.result_backend,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": run.name,
            # Workers run tasks through the Task SDK: they call the api-server with tokens the scheduler signs.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # the unpaused DAGs run the backfill only, no latest interval
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "NETSKOPE_STAGING_BASE": f"s3://{run.bucket}/staging",
            "NETSKOPE_STAGING_CONN_ID": "aws_default",
            "NETSKOPE_STAGING_RETENTION_HOURS": "1",  # keep the staged files, to find them on S3
            "NETSKOPE_LOG_GROUP": run.log_group("{log_type}"),
            "NETSKOPE_START_DATE": iso(WINDOWS[0][0]),
            "NETSKOPE_RETRY_DELAY_SECONDS": "5",
        },
    )
    deployment = Deployment(home, env, run.database_url)
    deployment.cli(
        ["db", "migrate"],
        ["pools", "set", "netskope_api", "4", "Netskope API calls"],
        ["dags", "reserialize"],
        *(["dags", "unpause", dag_id] for dag_id in DAG_IDS),
    )
    try:
        deployment.start_api_server()  # workers and the scheduler call its Execution API: start it first
        for suffix in WORKERS:
            worker = run.worker(suffix)
            deployment.start(
                f"worker-{suffix}",
                "celery",
                "worker",
                "--queues",
                run.name,
                "--celery-hostname",
                worker,
                "--concurrency",
                "2",
                "--pid",
                str(home / f"worker-{suffix}.pid"),
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
                env={
                    WORKER_NAME_ENV: worker,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "deployment.worker_hostname",
                    "PYTHONPATH": os.pathsep.join(
                        filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")])
                    ),
                },
            )
        deployment.start("scheduler", "scheduler")
        deployment.start("dag-processor", "dag-processor")
        yield deployment
    finally:
        deployment.stop()


@pytest.mark.timeout(1200)
def test_a_celery_backfill_of_all_eight_dags_delivers_each_window_exactly(
    deployment: Deployment,
    run: IsolatedRun,
    simulator: SimulatorServer,
    moto_server,
) -> None:
    deployment.cli(
        *(
            [
                "backfill",
                "create",
                "--dag-id",
                dag_id,
                "--from-date",
                iso(WINDOWS[0][0]),
                "--to-date",
                iso(WINDOWS[-1][0]),
            ]
            for dag_id in DAG_IDS
        )
    )
    deployment.wait_for_backfills(list(DAG_IDS), RUN_TIMEOUT)

    runs = deployment.query("SELECT dag_id, run_id, data_interval_start FROM dag_run WHERE run_type = 'backfill'")
    assert sorted((dag_id, start.timestamp()) for dag_id, _, start in runs) == sorted(
        (dag_id, start) for dag_id in DAG_IDS for start, _ in WINDOWS
    )
    logs = moto_server.client("logs")
    for dag_id, log_type in DAG_IDS.items():
        for start, end in WINDOWS:
            # Every record was inserted within WINDOWS: each window's stream holds those it is home to.
            expected = expected_home_events(simulator, log_type, start, end)
            assert sum(expected.values()) > 0, f"{log_type} {iso(start)}: the tenant holds records"
            held = cloudwatch_window_events(logs, log_type, start, end, run.log_group(log_type))
            assert held == expected, (
                f"{dag_id} {iso(start)}: {sum(held.values())} events, {sum(expected.values())} expected"
            )

    hosts = deployment.query("SELECT DISTINCT hostname FROM task_instance")
    assert {host for (host,) in hosts} == {run.worker(suffix) for suffix in WORKERS}, "tasks ran on both workers"

    staged = moto_server.client("s3").list_objects_v2(Bucket=run.bucket, Prefix="staging/").get("Contents", [])
    run_folders = {(dag_id, safe_name(run_id)) for dag_id, run_id, _ in runs}
    for stage_file in (RAW_FILE, EVENTS_FILE):  # staging/<dag_id>/<run folder>/<try>/<file>
        assert {
            tuple(item["Key"].split("/")[1:3]) for item in staged if item["Key"].endswith(f"/{stage_file}")
        } == run_folders
    assert not (deployment.home / "netskope-staging").exists(), "nothing staged on a worker's disk"

    deployment.stop()
    assert deployment.survivors() == {}, "every process group started is gone"
