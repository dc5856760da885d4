"""Fault injection: the real pipeline (fetch -> to_ocsf -> deliver) against a misbehaving tenant and AWS.

The tenant is the simulator with ``FaultConfig`` faults; AWS is the real ``moto_server``, reached
either directly or through :class:`FlakyCloudWatch`, a small proxy that plays CloudWatch's bad
days (throttling, events refused inside a successful call, a call that never answers). Every case
ends with the window's log stream equal to the simulator's ground truth: nothing lost, nothing twice.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from conftest import cloudwatch_window_events, expected_cloudwatch_events
from pipeline_tasks import run_pipeline, run_task

from netskope_provider import staging
from netskope_provider.exceptions import NetskopeResponseError
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
SPAN = (NOW_HOUR - 3 * HOUR, NOW_HOUR - HOUR)
WINDOW = (NOW_HOUR - 2 * HOUR, NOW_HOUR - HOUR)
#: Retries and waits in milliseconds, so a storm of faults costs the suite little time.
FAST_CLIENT = {
    "allow_non_goskope_host": True,
    "scheme": "http",
    "rate_limit_per_second": 50,
    "max_retries": 8,
    "backoff_base_seconds": 0.01,
    "backoff_cap_seconds": 0.05,
    "max_wait_seconds": 0.05,
    "read_timeout": 0.4,
}
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
        insertion_time_everywhere=True,  # legacy shape: the incident/endpoint strategies still need it (#15)
    )
    with SimulatorServer(config) as sim:
        yield sim


def connection_json(sim: SimulatorServer, **extra: Any) -> str:
    password = extra.pop("password", sim.token)
    conn: dict[str, Any] = {"conn_type": "netskope", "host": sim.host, "extra": FAST_CLIENT | extra}
    if password is not None:
        conn["password"] = password
    return json.dumps(conn)


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
    expected = expected_cloudwatch_events(sim, log_type, *WINDOW)
    assert sum(expected.values()) > 0
    assert cloudwatch_window_events(moto_server.client("logs"), log_type, *WINDOW) == expected


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


def test_token_rotated_mid_run_is_reread_from_secrets_manager(tenant, moto_server, monkeypatch) -> None:
    """The service account's token changes between two pages: one 401, the new secret is read, nothing is lost."""
    old, new = tenant.token, "fault-suite-token-rotated-8e2a"
    secrets = moto_server.client("secretsmanager")
    arn = secrets.create_secret(Name="netskope/fault-suite", SecretString=json.dumps({"api_token": old}))["ARN"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_NETSKOPE_DEFAULT",
        connection_json(tenant, password=None, secret_arn=arn, rate_limit_per_second=20),
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


class FlakyCloudWatch:
    """An HTTP proxy in front of moto_server that plays CloudWatch Logs' bad days on ``PutLogEvents``.

    * ``throttle_next``: answer the next N calls with ``ThrottlingException``;
    * ``refuse_oldest`` / ``refuse_newest`` on the next ``refusing_puts`` calls: store all but the
      first / last events and report them in ``rejectedLogEventsInfo`` (AWS's index semantics), the
      way CloudWatch drops events it finds too old or too new inside a successful call;
    * ``hold_after``: forward that many calls, then hold every later one without ever answering.
    Everything else is forwarded unchanged.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.throttle_next = 0
        self.refusing_puts = 0
        self.refuse_oldest = 0
        self.refuse_newest = 0
        self.hold_after: int | None = None
        self.forwarded_puts = 0
        self.held_puts = 0
        self.release = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("X-Amz-Target", "").endswith(".PutLogEvents"):
                    proxy._put_log_events(self, body)
                else:
                    self._answer(*proxy._forward(self, body))

            def _answer(self, status: int, content_type: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, str, bytes]:
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in {"host", "content-length"}}
        response = requests.post(self.upstream + handler.path, data=body, headers=headers, timeout=30)
        return (
            response.status_code,
            response.headers.get("Content-Type", "application/x-amz-json-1.1"),
            response.content,
        )

    def _put_log_events(self, handler: Any, body: bytes) -> None:
        with self._lock:
            throttle = self.throttle_next > 0
            self.throttle_next -= throttle
            hold = not throttle and self.hold_after is not None and self.forwarded_puts >= self.hold_after
            self.held_puts += hold
            self.forwarded_puts += not throttle and not hold
            refuse = not throttle and not hold and self.refusing_puts > 0
            self.refusing_puts -= refuse
        if throttle:
            payload = orjson.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
            handler._answer(400, "application/x-amz-json-1.1", payload)
            return
        if hold:
            self.release.wait(60)
            handler.close_connection = True
            return
        info: dict[str, int] = {}
        if refuse:
            request = orjson.loads(body)
            events = request["logEvents"]
            oldest, newest = min(self.refuse_oldest, len(events)), min(self.refuse_newest, len(events))
            request["logEvents"] = events[oldest : len(events) - newest]
            body = orjson.dumps(request)
            if oldest:
                info["tooOldLogEventEndIndex"] = oldest
            if newest:
                info["tooNewLogEventStartIndex"] = len(events) - newest
        status, content_type, payload = self._forward(handler, body)
        if info and status == 200:
            payload = orjson.dumps({**orjson.loads(payload or b"{}"), "rejectedLogEventsInfo": info})
        handler._answer(status, content_type, payload)

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def flaky_cloudwatch(moto_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyCloudWatch]:
    """The proxy, wired as AWS connection ``aws_flaky`` (botocore's own retries off: ours are under test)."""
    proxy = FlakyCloudWatch(moto_server.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_FLAKY",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {
                    "region_name": "us-east-1",
                    "endpoint_url": proxy.url,
                    "config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 1}},
                },
            }
        ),
    )
    yield proxy
    proxy.close()


def test_cloudwatch_throttling_is_waited_out(tenant, moto_server, flaky_cloudwatch: FlakyCloudWatch) -> None:
    flaky_cloudwatch.throttle_next = 4
    summary = run_pipeline("audit", *WINDOW, run_id="cw_throttled", aws_conn_id="aws_flaky")
    assert flaky_cloudwatch.throttle_next == 0
    assert summary["delivery"]["throttled"] == 4
    assert_cloudwatch_is_ground_truth(tenant, moto_server, "audit")


def test_cloudwatch_partial_rejections_are_resent(tenant, moto_server, flaky_cloudwatch: FlakyCloudWatch) -> None:
    """Events CloudWatch drops inside a successful call are sent again (restamped): none lost, none twice."""
    flaky_cloudwatch.refusing_puts, flaky_cloudwatch.refuse_oldest, flaky_cloudwatch.refuse_newest = 2, 5, 3
    summary = run_pipeline("application", *WINDOW, run_id="cw_refused", aws_conn_id="aws_flaky")
    assert flaky_cloudwatch.refusing_puts == 0
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
    flaky_cloudwatch.hold_after = 1  # one batch reaches CloudWatch, the others hang until the worker dies
    worker = start_worker("deliver", **window, try_number=1, manifest=mapped, aws_conn_id="aws_flaky")
    try:
        wait_for(lambda: flaky_cloudwatch.held_puts >= 1 or not worker.is_alive(), "a batch to hang")
    finally:
        kill(worker)
    logs = moto_server.client("logs")
    got_out = sum(cloudwatch_window_events(logs, "application", *WINDOW).values())
    assert 0 < got_out < mapped["events"]["records"], "the killed try delivered part of the window"

    flaky_cloudwatch.hold_after = None
    summary = run_task("deliver", **window, try_number=2, manifest=mapped, aws_conn_id="aws_flaky")
    assert summary["delivery"]["already_present"] == got_out
    assert summary["delivery"]["delivered"] == mapped["events"]["records"] - got_out
    assert_cloudwatch_is_ground_truth(tenant, moto_server, "application")
