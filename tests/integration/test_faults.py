"""Fault injection: the real pipeline (fetch -> to_ocsf -> deliver) against a misbehaving tenant and AWS.

The tenant is the simulator with ``FaultConfig`` faults; AWS is the real ``moto_server``, reached
either directly or through :class:`FlakyCloudWatch`, a proxy process that plays CloudWatch's bad
days (throttling, events refused inside a successful call, a call that never answers). Every case
ends with the window's log stream equal to the simulator's ground truth: nothing lost, nothing twice.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_window_delivered, cloudwatch_window_events
from deployment import FAST_CLIENT, netskope_connection
from flaky_cloudwatch import FlakyCloudWatch
from pipeline_tasks import run_pipeline, run_task
from scripted_tenant import Reply, ScriptedTenant, counted, is_count, ok

from netskope_provider import staging
from netskope_provider.api.client import PAGE_SIZE
from netskope_provider.exceptions import NetskopeResponseError, NetskopeRetriesExhaustedError
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.pipeline import EVENTS_FILE
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
SPAN = (NOW_HOUR - 3 * HOUR, NOW_HOUR - HOUR)
WINDOW = (NOW_HOUR - 2 * HOUR, NOW_HOUR - HOUR)
#: Retries and waits in milliseconds, so a storm of faults costs the suite little time.
FAULT_CLIENT = {**FAST_CLIENT, "max_retries": 8, "read_timeout": 0.4}
FAULT_COUNTERS = (
    "error_next",
    "reset_next",
    "truncate_next",
    "slow_next",
    "html_next",
    "throttle_next",
    "conflict_next",
)


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    volume = dict.fromkeys(LOG_TYPES, 120) | {"application": 1200}  # ~600 in WINDOW: several PutLogEvents batches
    config = SimulatorConfig(
        seed=61,
        token="fault-suite-token-1f7c",
        start=SPAN[0],
        end=SPAN[1],
        volume=volume,
        iterator_wait_seconds=0,
        iterator_batch_seconds=300,
    )
    with SimulatorServer(config) as sim:
        yield sim


def connection_json(sim: SimulatorServer, *, with_token: bool = True, **extra: Any) -> str:
    return netskope_connection(sim, with_token=with_token, **(FAULT_CLIENT | extra))


@pytest.fixture
def tenant(
    simulator: SimulatorServer, moto_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SimulatorServer]:
    """The simulator wired as the Netskope connection, an empty moto_server, private staging; faults off after."""
    moto_server.reset()
    monkeypatch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", connection_json(simulator))
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", f"file://{tmp_path / 'staging'}")
    token = simulator.token
    yield simulator
    for counter in FAULT_COUNTERS:
        setattr(simulator.faults, counter, 0)
    simulator.set_token(token)
    assert not simulator.stats.internal_errors


def assert_cloudwatch_is_ground_truth(sim: SimulatorServer, moto_server, log_type: str) -> None:
    assert_window_delivered(sim, moto_server.client("logs"), log_type, *WINDOW)


# --- the tenant misbehaves -----------------------------------------------------------------------

TENANT_FAULTS = [
    pytest.param("network", {"throttle_next": 6}, id="429-storm"),
    pytest.param("application", {"error_next": 5, "error_status": 502}, id="5xx-burst"),
    pytest.param("incident", {"error_next": 4, "error_status": 503}, id="5xx-burst-incident"),
    pytest.param("audit", {"reset_next": 4}, id="connection-resets"),
    pytest.param("endpoint", {"reset_next": 3}, id="connection-resets-iterator"),
    pytest.param("network", {"truncate_next": 3}, id="truncated-bodies"),
    pytest.param("endpoint", {"truncate_next": 3}, id="truncated-bodies-iterator"),
    pytest.param("page", {"slow_next": 2, "slow_seconds": 0.8}, id="slow-bodies"),
    pytest.param("endpoint", {"slow_next": 2, "slow_seconds": 0.8}, id="slow-bodies-iterator"),
    pytest.param("endpoint", {"conflict_next": 4}, id="409-iterator-index-busy"),
]


@pytest.mark.parametrize(("log_type", "faults"), TENANT_FAULTS)
def test_tenant_faults_leave_cloudwatch_equal_to_the_ground_truth(
    tenant, moto_server, log_type: str, faults: dict
) -> None:
    """Transient tenant faults are retried inside the fetch task; the run succeeds with every record once."""
    tenant.faults.slow_seconds = faults.get("slow_seconds", 2.0)
    tenant.faults.error_status = faults.get("error_status", 503)
    for name, value in faults.items():
        setattr(tenant.faults, name, value)
    summary = run_pipeline(log_type, *WINDOW, run_id=f"faults_{log_type}")
    unserved = {name: getattr(tenant.faults, name) for name in faults if name.endswith("_next")}
    assert set(unserved.values()) == {0}, f"every scheduled fault met a request of this run: {unserved}"
    assert summary["rejected"] == summary["refused"] == 0 and summary["delivered"] == summary["fetched"]
    assert_cloudwatch_is_ground_truth(tenant, moto_server, log_type)


def test_html_error_page_fails_the_try_and_the_retry_delivers_exactly(tenant, moto_server) -> None:
    """A login page in place of JSON is not retried blindly: the try fails with a clear error, the next try is exact."""
    tenant.faults.html_next = 1
    with pytest.raises(NetskopeResponseError, match=r"(?i)html") as failure:
        run_pipeline("alert", *WINDOW, run_id="html_page", try_number=1)
    assert tenant.token not in str(failure.value)
    assert cloudwatch_window_events(moto_server.client("logs"), "alert", *WINDOW) == {}, (
        "the failed try delivered nothing"
    )
    run_pipeline("alert", *WINDOW, run_id="html_page", try_number=2)
    assert_cloudwatch_is_ground_truth(tenant, moto_server, "alert")


def test_a_count_whose_answer_never_came_after_the_first_page_fails_the_try_and_the_retry_is_exact(
    moto_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full first page is mapped and staged before its count is asked: a count request the tenant
    never answers (retries spent) fails that try, and the next try pulls the window whole, each record once."""
    start, end = WINDOW
    records = [
        {"_id": f"a{n}", "timestamp": start + n % HOUR, "_insertion_epoch_timestamp": start + n % HOUR, "type": "audit"}
        for n in range(PAGE_SIZE + 1)
    ]
    first, rest = ok(records[:PAGE_SIZE]), ok(records[PAGE_SIZE:])
    unanswered = Reply(reset=True)
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", f"file://{tmp_path / 'staging'}")
    moto_server.reset()
    with ScriptedTenant() as scripted:
        monkeypatch.setenv(
            "AIRFLOW_CONN_NETSKOPE_DEFAULT",
            json.dumps(
                {
                    "conn_type": "netskope",
                    "host": scripted.host,
                    "password": "count-fails-token",
                    "extra": {"allow_non_goskope_host": True, "scheme": "http", **FAST_CLIENT, "max_retries": 1},
                }
            ),
        )
        scripted.queue(first)
        scripted.queue_counts(unanswered, unanswered)
        with pytest.raises(NetskopeRetriesExhaustedError):
            run_task("fetch", log_type="audit", start=start, end=end, run_id="count_fails", try_number=1)
        assert [is_count(seen) for seen in scripted.seen] == [False, True, True], "the first page came before the count"
        failed_try = staging.run_folder(f"file://{tmp_path / 'staging'}", "netskope_audit", "count_fails", 1)
        assert len(list(staging.read_lines(failed_try / EVENTS_FILE))) == PAGE_SIZE, "the failed try mapped page one"
        scripted.queue(first, rest)
        scripted.queue_counts(counted(PAGE_SIZE + 1))
        run_pipeline("audit", start, end, run_id="count_fails", try_number=2)
    delivered = cloudwatch_window_events(moto_server.client("logs"), "audit", start, end)
    assert sum(delivered.values()) == PAGE_SIZE + 1 and set(delivered.values()) == {1}


def test_token_rotated_mid_run_is_reread_from_secrets_manager(tenant, moto_server, monkeypatch) -> None:
    """The service account's token changes between two pages: one 401, the new secret is read, nothing is lost."""
    old, new = tenant.token, "fault-suite-token-rotated-8e2a"
    secrets = moto_server.client("secretsmanager")
    arn = secrets.create_secret(Name="netskope/fault-suite", SecretString=json.dumps({"api_token": old}))["ARN"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_NETSKOPE_DEFAULT",
        connection_json(tenant, with_token=False, secret_arn=arn, rate_limit_per_second=20),
    )
    unauthorized_before = tenant.stats.statuses.get(401, 0)
    served_before = requests_served(tenant)

    def rotate_after_two_pages() -> None:
        wait_for(lambda: requests_served(tenant) >= served_before + 2, "the pull to get going")
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"api_token": new}))
        tenant.set_token(new)  # the old token fails at once

    with ThreadPoolExecutor(1) as pool:
        rotation = pool.submit(rotate_after_two_pages)
        run_pipeline("endpoint", *WINDOW, run_id="rotation")
        rotation.result()
    assert tenant.token == new
    assert tenant.stats.statuses.get(401, 0) - unauthorized_before == 1, "one 401, then the re-read token worked"
    assert_cloudwatch_is_ground_truth(tenant, moto_server, "endpoint")


# --- CloudWatch misbehaves -----------------------------------------------------------------------


@pytest.fixture
def flaky_cloudwatch(flaky: FlakyCloudWatch, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyCloudWatch]:
    """The proxy process, wired as AWS connection ``aws_flaky``; read-backs after lost answers wait 0.2 s."""
    proxy = flaky
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_FLAKY",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", "endpoint_url": proxy.url},
            }
        ),
    )
    monkeypatch.setenv("NETSKOPE_VERIFY_WAIT_SECONDS", "0.2")
    yield proxy
    proxy.set(throttle_next=0, refusing_puts=0, hold_after=None, release=True)


def test_cloudwatch_throttling_is_waited_out(tenant, moto_server, flaky_cloudwatch: FlakyCloudWatch) -> None:
    """A throttled put is never repeated blindly: the stream is read back and what it lacks is sent again."""
    flaky_cloudwatch.set(throttle_next=3)
    summary = run_pipeline("audit", *WINDOW, run_id="cw_throttled", aws_conn_id="aws_flaky")
    assert flaky_cloudwatch.state()["throttle_next"] == 0
    report = summary["delivery"]
    assert report["throttled"] == report["unanswered_puts"] == 3 and report["read_backs"] >= 1
    assert report["landed_unanswered"] == 0 and report["resent"] > 0
    assert_cloudwatch_is_ground_truth(tenant, moto_server, "audit")


def test_cloudwatch_partial_rejections_are_resent(tenant, moto_server, flaky_cloudwatch: FlakyCloudWatch) -> None:
    """Events CloudWatch drops inside a successful call are sent again (restamped): none lost, none twice."""
    flaky_cloudwatch.set(refusing_puts=2, refuse_oldest=5, refuse_newest=3)
    summary = run_pipeline("application", *WINDOW, run_id="cw_refused", aws_conn_id="aws_flaky")
    assert flaky_cloudwatch.state()["refusing_puts"] == 0
    assert summary["delivery"]["restamped"] == 2 * (5 + 3)
    assert summary["refused"] == 0 and summary["delivered"] == summary["fetched"]
    assert_cloudwatch_is_ground_truth(tenant, moto_server, "application")


# --- a worker dies -------------------------------------------------------------------------------


def requests_served(sim: SimulatorServer) -> int:
    return sum(sim.stats.requests.values())


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def start_worker(task: str, **arguments: Any) -> multiprocessing.Process:
    """The task in its own (forked) process, as a worker runs it; the test SIGKILLs it."""
    worker = multiprocessing.get_context("fork").Process(target=run_task, args=(task,), kwargs=arguments, daemon=True)
    worker.start()
    return worker


def kill(worker: multiprocessing.Process) -> None:
    assert worker.is_alive(), f"the worker finished before it could be killed (exit code {worker.exitcode})"
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(30)
    assert worker.exitcode == -signal.SIGKILL


def test_worker_killed_mid_fetch_then_the_retry_delivers_exactly(tenant, moto_server, monkeypatch) -> None:
    window = {"log_type": "endpoint", "start": WINDOW[0], "end": WINDOW[1], "run_id": "killed_fetch"}
    served_before = tenant.stats.records_served["endpoint"]
    # Two pages a second: the pull of the window's ~25 iterator pages is surely still going when it dies.
    monkeypatch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", connection_json(tenant, rate_limit_per_second=2))
    worker = start_worker("fetch", **window, try_number=1)
    try:
        wait_for(
            lambda: tenant.stats.records_served["endpoint"] > served_before or not worker.is_alive(),
            "the first page to be served",
        )
    finally:
        kill(worker)
    monkeypatch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", connection_json(tenant))
    first_try = staging.run_folder(os.environ["NETSKOPE_STAGING_BASE"], "netskope_endpoint", "killed_fetch", 1)
    assert Path(first_try.path, "raw.ndjson.gz").exists(), "the killed try had started staging"
    assert cloudwatch_window_events(moto_server.client("logs"), "endpoint", *WINDOW) == {}

    fetched = run_task("fetch", **window, try_number=2)
    assert fetched["fetched"]["location"] != str(first_try / "raw.ndjson.gz"), "a retry stages into its own folder"
    mapped = run_task("to_ocsf", **window, try_number=2, manifest=fetched)
    run_task("deliver", **window, try_number=2, manifest=mapped)
    assert_cloudwatch_is_ground_truth(tenant, moto_server, "endpoint")


def test_worker_killed_mid_delivery_then_the_retry_leaves_one_copy(tenant, moto_server, flaky_cloudwatch) -> None:
    window = {"log_type": "application", "start": WINDOW[0], "end": WINDOW[1], "run_id": "killed_delivery"}
    fetched = run_task("fetch", **window)
    mapped = run_task("to_ocsf", **window, manifest=fetched)
    before = flaky_cloudwatch.state()
    # One batch reaches CloudWatch, the others hang until the worker dies.
    flaky_cloudwatch.set(hold_after=before["forwarded_puts"] + 1, release=False)
    worker = start_worker("deliver", **window, try_number=1, manifest=mapped, aws_conn_id="aws_flaky")

    def one_stored_one_hanging() -> bool:
        now = flaky_cloudwatch.state()
        return now["held_puts"] > before["held_puts"] and now["stored_puts"] > before["stored_puts"]

    try:
        wait_for(lambda: one_stored_one_hanging() or not worker.is_alive(), "a batch to land and one to hang")
    finally:
        kill(worker)
    logs = moto_server.client("logs")
    got_out = sum(cloudwatch_window_events(logs, "application", *WINDOW).values())
    assert 0 < got_out < mapped["events"]["records"], "the killed try delivered part of the window"

    flaky_cloudwatch.set(hold_after=None, release=True)
    summary = run_task("deliver", **window, try_number=2, manifest=mapped, aws_conn_id="aws_flaky")
    assert summary["delivery"]["already_present"] == got_out
    assert summary["delivery"]["delivered"] == mapped["events"]["records"] - got_out
    assert_cloudwatch_is_ground_truth(tenant, moto_server, "application")
