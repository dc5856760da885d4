"""Shared test set-up: an isolated Airflow home, fake AWS credentials, and real local servers.

The environment is set before anything imports Airflow (pytest imports conftest first).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="netskope-airflow-home-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # Never reach real AWS: fake credentials everywhere.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def refused_port(candidates: Iterable[int] = (0,)) -> Iterator[int]:
    """A port where connections are refused for the whole block: bound, never listening, so no other
    test or process can take it in the meantime (a port ``free_port`` found free may be taken at once).

    The first of ``candidates`` that binds (0: the system picks).
    """
    with socket.socket() as sock:
        for port in candidates:
            with contextlib.suppress(OSError):
                sock.bind(("127.0.0.1", port))
                break
        else:
            raise RuntimeError(f"none of the ports {candidates} could be bound")
        yield sock.getsockname()[1]


class MotoServer:
    """A real ``moto_server`` process: the AWS endpoint for CloudWatch Logs, Secrets Manager and S3.

    Started as ``make demo`` starts it (``netskope_provider.demo.moto_server``: on a port the system
    picks, read from moto's start-up line).
    """

    def __init__(self) -> None:
        from netskope_provider.demo import moto_server

        self._running = contextlib.ExitStack()
        self.url = self._running.enter_context(moto_server())

    def aws_conn_uri_json(self) -> str:
        return json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", "endpoint_url": self.url},
            }
        )

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1")

    def reset(self) -> None:
        """Drop all state in the server (moto's reset API)."""
        import requests

        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        self._running.close()


@pytest.fixture(scope="session")
def moto_process() -> Iterator[MotoServer]:
    """moto in server mode on 127.0.0.1, wired as ``AIRFLOW_CONN_AWS_DEFAULT``, one per pytest process."""
    server = MotoServer()
    previous = os.environ.get("AIRFLOW_CONN_AWS_DEFAULT")
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = server.aws_conn_uri_json()
    try:
        yield server
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_AWS_DEFAULT", None)
        else:
            os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = previous


@pytest.fixture(scope="module")
def moto_server(moto_process: MotoServer) -> MotoServer:
    """The moto server, emptied for each test module: every record of one hour shares its home stream,
    so a module must not see what another module (run before it on the same pytest worker) delivered."""
    moto_process.reset()
    return moto_process


@pytest.fixture(scope="module")
def flaky(moto_server: MotoServer) -> Iterator[Any]:
    """The ``flaky_cloudwatch`` proxy process in front of moto_server, one per test module."""
    from flaky_cloudwatch import FlakyCloudWatch

    proxy = FlakyCloudWatch(moto_server.url)
    yield proxy
    proxy.close()


def canonical_json(document: object) -> bytes:
    """One JSON document as sorted-key bytes, so CloudWatch messages compare regardless of key order."""
    from netskope_provider.demo import canonical

    return canonical(document)


def expected_cloudwatch_events(simulator, log_type: str, start: int, end: int) -> Counter[bytes]:
    """What CloudWatch must hold for a window (``demo.expected_messages``: the one ground-truth comparison)."""
    from netskope_provider.demo import expected_messages

    return expected_messages(simulator, log_type, start, end)


def expected_home_events(simulator, log_type: str, start: int, end: int) -> Counter[bytes]:
    """What the home streams of ``[start, end)`` must hold (``demo.expected_messages``)."""
    return expected_cloudwatch_events(simulator, log_type, start, end)


def all_stream_events(logs_client, log_type: str, log_group: str | None = None) -> Counter[bytes]:
    """Every message of every stream of the log type's group."""
    from netskope_provider import delivery
    from netskope_provider.demo import canonical
    from netskope_provider.reconciliation import existing_streams

    group = log_group or f"/netskope/ocsf/{log_type}"
    return Counter(
        canonical(json.loads(message))
        for stream in existing_streams(logs_client, group, log_type)
        for _, message in delivery.read_stream(logs_client, group, stream)
    )


def assert_window_delivered(simulator, logs_client, log_type: str, start: int, end: int) -> None:
    """One pull of ``[start, end)`` left CloudWatch holding exactly what it must.

    ``data/*`` and incident: the window's home streams hold the records homed there. Endpoint: every
    record inserted in the window is in its home stream once, and the only others are records
    inserted later that the pull read on to (the next window would read them again, without a copy).
    """
    from netskope_provider.log_types import Strategy, get_log_type

    if get_log_type(log_type).strategy is not Strategy.ITERATOR:
        expected = expected_home_events(simulator, log_type, start, end)
        assert sum(expected.values()) > 0
        assert home_stream_events(logs_client, log_type, start, end) == expected
        return
    held = all_stream_events(logs_client, log_type)
    from netskope_provider.demo import mapped_messages

    inserted = mapped_messages(simulator.ground_truth(log_type, start, end, served_by="dataexport"), log_type)
    later = mapped_messages(simulator.ground_truth(log_type, start, 2**40, served_by="dataexport"), log_type)
    assert sum(inserted.values()) > 0
    assert max(held.values()) == 1
    assert set(inserted) <= set(held) <= set(later)


def cloudwatch_window_events(
    logs_client, log_type: str, start: int, end: int, log_group: str | None = None
) -> Counter[bytes]:
    """The messages of a window's log stream (empty when the stream does not exist).

    ``log_group`` defaults to the log type's default group, ``/netskope/ocsf/<log_type>``.
    """
    from netskope_provider.demo import canonical, stream_documents

    return Counter(canonical(document) for document in stream_documents(logs_client, log_type, start, end, log_group))


def home_stream_events(
    logs_client, log_type: str, start: int, end: int, log_group: str | None = None
) -> Counter[bytes]:
    """The messages of every hourly stream a window's records live in (their homes; the default schedule)."""
    from netskope_provider.windows import Schedule, Window

    return sum(
        (
            cloudwatch_window_events(logs_client, log_type, home.start, home.end, log_group)
            for home in Schedule("0 * * * *").intervals(Window(start, end))
        ),
        Counter(),
    )


def fresh_airflow_db(pool_slots: int = 4) -> None:
    """An empty metadata DB with the ``netskope_api`` pool the fetch tasks need (for ``dag.test()`` runs)."""
    from airflow.models.pool import Pool
    from airflow.utils import db

    db.resetdb()
    Pool.create_or_update_pool(
        "netskope_api", slots=pool_slots, description="Netskope API calls", include_deferred=False
    )


@contextlib.contextmanager
def airflow_with_simulator(simulator: Any, staging_dir: Path, **extra: Any) -> Iterator[pytest.MonkeyPatch]:
    """A fresh metadata DB with the API pool, ``simulator`` as the Netskope connection (``extra`` added to
    its extras) and staging under ``staging_dir``; yields the patch for more settings, undone on exit."""
    from deployment import netskope_connection

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", netskope_connection(simulator, **extra))
        patch.setenv("NETSKOPE_STAGING_BASE", f"file://{staging_dir}")
        fresh_airflow_db()
        yield patch


#: The hour before the last whole hour: closed and settled, for a tenant that defies offset paging.
HOUR_BEFORE_LAST = (
    (int(time.time()) // 3600 - 2) * 3600,
    (int(time.time()) // 3600 - 1) * 3600,
)
#: Two and a half pages of 10,000 infrastructure records in that hour (~7 a second).
PAGED_RECORDS = 25_000


@contextlib.contextmanager
def paged_infrastructure_tenant(seed: int, **behaviour: Any) -> Iterator[Any]:
    """A simulator holding ``PAGED_RECORDS`` infrastructure records inserted in ``HOUR_BEFORE_LAST``, with ``behaviour``."""
    from netskope_provider.simulator import SimulatorConfig, SimulatorServer

    start, end = HOUR_BEFORE_LAST
    config = SimulatorConfig(seed=seed, start=start, end=end, volume={"infrastructure": PAGED_RECORDS}, **behaviour)
    with SimulatorServer(config) as sim:
        yield sim


def infrastructure_run(simulator: Any, moto_server: Any, staging_dir: Path, **env: str) -> tuple[Any, Counter[bytes]]:
    """One ``dag.test()`` run of the infrastructure DAG over ``HOUR_BEFORE_LAST`` (``env`` set while it is
    parsed and runs), and what CloudWatch then holds for that hour."""
    from datetime import UTC, datetime

    from netskope_provider.compat import DagBag, dag_test
    from netskope_provider.demo import canonical, stream_documents

    moto_server.reset()
    with airflow_with_simulator(simulator, staging_dir, rate_limit_per_second=50) as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        bag = DagBag(dag_folder=str(REPO / "dags"))
        dag_run = dag_test(bag.dags["netskope_infrastructure"], datetime.fromtimestamp(HOUR_BEFORE_LAST[1], tz=UTC))
    logs = moto_server.client("logs")
    return dag_run, Counter(
        canonical(document) for document in stream_documents(logs, "infrastructure", *HOUR_BEFORE_LAST)
    )
