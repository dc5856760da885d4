"""Exactly once for real (issue #14): concurrent and overlapping deliveries, lost PutLogEvents replies,
a worker killed holding a stream's lease, and an AWS identity that may not put.

Real processes and sockets throughout: the simulator, ``moto_server`` (CloudWatch Logs and S3 for
staging), the proxy process of ``flaky_cloudwatch`` between the delivery and CloudWatch, deliveries
in separate interpreters. Leases last 8 s here (120 s by default) so expiry costs the suite little.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from conftest import REPO, MotoServer, expected_cloudwatch_events, home_stream_events

from netskope_provider import delivery, pipeline, staging
from netskope_provider.compat import AirflowFailException
from netskope_provider.exceptions import CloudWatchPermissionError
from netskope_provider.simulator import SimulatorConfig, SimulatorServer
from netskope_provider.windows import Window

HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
#: Two closed hours of records; WINDOW is the first.
SPAN = (NOW_HOUR - 3 * HOUR, NOW_HOUR - HOUR)
WINDOW = Window(SPAN[0], SPAN[0] + HOUR)
BUCKET = "netskope-exactly-once"
STAGE_PROCESS = REPO / "tests" / "stage_process.py"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    # ~3,000 application records an hour of ~2 KB: a window takes several PutLogEvents calls.
    config = SimulatorConfig(seed=141, start=SPAN[0], end=SPAN[1], volume={"application": 6000, "audit": 300})
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture
def env(simulator, moto_server, flaky, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimulatorServer:
    """The simulator as the Netskope connection, an empty moto_server, local staging, short leases."""
    moto_server.reset()
    flaky.set(drop_replies_next=0, hold_after=None, release=True, put_delay=0.0)
    for name, url in (("NETSKOPE_DEFAULT", None), ("AWS_FLAKY", flaky.url)):
        if url is None:
            conn = {
                "conn_type": "netskope",
                "host": simulator.host,
                "password": simulator.token,
                "extra": {"allow_non_goskope_host": True, "scheme": "http", "rate_limit_per_second": 50},
            }
        else:
            conn = {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", "endpoint_url": url},
            }
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(conn))
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", f"file://{tmp_path / 'staging'}")
    monkeypatch.setenv("NETSKOPE_LEASE_SECONDS", "8")
    monkeypatch.setenv("NETSKOPE_VERIFY_WAIT_SECONDS", "0.2")
    return simulator


def use_s3_staging(moto_server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staging (and so the leases) on S3, as several Celery workers share it."""
    moto_server.client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", f"s3://{BUCKET}/staging")
    monkeypatch.setenv("NETSKOPE_STAGING_CONN_ID", "aws_default")


def area(log_type: str, run_id: str, try_number: int = 1) -> staging.TaskStaging:
    return staging.TaskStaging(
        os.environ["NETSKOPE_STAGING_BASE"],
        os.environ.get("NETSKOPE_STAGING_CONN_ID") or None,
        f"netskope_{log_type}",
        run_id,
        try_number,
    )


def staged(log_type: str, window: Window, run_id: str) -> pipeline.MapManifest:
    """Fetch and map a window: what a run hands its delivery task."""
    return pipeline.map_window(pipeline.fetch(log_type, window, area(log_type, run_id)), area(log_type, run_id))


def assert_exactly_the_ground_truth(sim: SimulatorServer, moto_server, log_type: str, window: Window) -> int:
    logs = moto_server.client("logs")
    for hour in window.split(HOUR):
        expected = expected_cloudwatch_events(sim, log_type, hour.start, hour.end)
        assert sum(expected.values()) > 0
        assert home_stream_events(logs, log_type, hour.start, hour.end) == expected, f"hour {hour}"
    return sum(sum(expected_cloudwatch_events(sim, log_type, h.start, h.end).values()) for h in window.split(HOUR))


def stream_names(moto_server, log_type: str) -> list[str]:
    streams = moto_server.client("logs").describe_log_streams(logGroupName=f"/netskope/ocsf/{log_type}")
    return sorted(stream["logStreamName"] for stream in streams["logStreams"])


# --- two deliveries of one window at once ------------------------------------------------------


@pytest.mark.parametrize("store", ["local", "s3"])
def test_two_deliveries_of_one_window_started_together_leave_one_copy(
    env, moto_server, flaky, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    """A manual run beside the scheduled one, each in its own interpreter: one writes, the other waits, reads back, adds nothing."""
    if store == "s3":
        use_s3_staging(moto_server, monkeypatch)
    runs = ("scheduled__a", "manual__b")
    manifests = []
    for run_id in runs:
        manifest = tmp_path / f"{run_id}.json"
        manifest.write_text(json.dumps(staged("application", WINDOW, run_id)))
        manifests.append(manifest)
    # A slow CloudWatch (each put answers after 2 s, within the 5 s put timeout of a 40 s lease): the
    # first delivery holds the stream for several seconds, so the second surely meets it.
    flaky.set(put_delay=2.0)
    monkeypatch.setenv("NETSKOPE_LEASE_SECONDS", "40")
    monkeypatch.setenv("NETSKOPE_AWS_CONN_ID", "aws_flaky")
    workers = [
        subprocess.Popen(
            [sys.executable, str(STAGE_PROCESS), "deliver", str(manifest), "netskope_application", run_id, "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for manifest, run_id in zip(manifests, runs, strict=True)
    ]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err[-3000:] for _, err in outputs]
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    records = assert_exactly_the_ground_truth(env, moto_server, "application", WINDOW)
    assert sorted(s["delivery"]["delivered"] for s in summaries) == [0, records]
    assert sorted(s["delivery"]["already_present"] for s in summaries) == [0, records]
    assert max(s["lease_waited_seconds"] for s in summaries) > 1, "they overlapped: one waited for the other"


# --- overlapping windows -------------------------------------------------------------------------


def test_a_custom_window_and_a_backfill_over_a_delivered_hour_leave_one_copy(env, moto_server) -> None:
    """Every record has one home stream (its hour), whichever window fetched it."""
    hour, two_hours = WINDOW, Window(WINDOW.start, WINDOW.end + HOUR)
    first = pipeline.run_window("audit", hour, area("audit", "scheduled__hour"))
    wide = pipeline.run_window("audit", two_hours, area("audit", "manual__two_hours"))
    backfill = [
        pipeline.run_window("audit", part, area("audit", f"backfill__{part.start}")) for part in hour.split(300)
    ]
    in_hour = first["delivery"]["delivered"]
    records = assert_exactly_the_ground_truth(env, moto_server, "audit", two_hours)
    assert in_hour > 0 and wide["delivery"]["already_present"] == in_hour
    assert wide["delivery"]["delivered"] == records - in_hour and len(wide["streams"]) == 2
    assert sum(run["delivery"]["delivered"] for run in backfill) == 0
    assert sum(run["delivery"]["already_present"] for run in backfill) == in_hour
    assert stream_names(moto_server, "audit") == sorted(
        delivery.stream_name("audit", part.start, part.end) for part in two_hours.split(HOUR)
    ), "no stream of the custom window or of the 5-minute windows"


# --- lost PutLogEvents replies -------------------------------------------------------------------


def test_put_replies_lost_on_the_wire_leave_one_copy_and_the_counts_say_so(env, moto_server, flaky) -> None:
    """The proxy lets three puts land, then drops their replies: read back, nothing sent twice."""
    flaky.set(drop_replies_next=3)
    summary = pipeline.run_window("application", WINDOW, area("application", "lost_replies"), aws_conn_id="aws_flaky")
    report = summary["delivery"]
    assert flaky.state()["dropped_replies"] == 3
    assert report["unanswered_puts"] == 3 and report["read_backs"] == 1 and report["resent"] == 0
    assert 0 < report["landed_unanswered"] < report["delivered"]
    assert (
        report["delivered"]
        == summary["delivered"]
        == assert_exactly_the_ground_truth(env, moto_server, "application", WINDOW)
    )


def test_botocores_own_retry_after_a_lost_reply_would_store_events_twice(env, moto_server, flaky) -> None:
    """Why puts never go through botocore's retries: the same fault duplicates what landed."""
    logs = moto_server.client("logs")
    delivery.ensure_log_group(logs, "/netskope/test")
    retrying = boto3.client(
        "logs", endpoint_url=flaky.url, region_name="us-east-1", config=Config(retries={"mode": "standard"})
    )
    now = int(time.time() * 1000)
    events = [(now - i, b'{"n":%d}' % i) for i in range(50)]
    flaky.set(drop_replies_next=1)
    delivery.deliver(events, logs, "/netskope/test", "s", put_client=retrying)
    held = Counter(message for _, message in delivery.read_stream(logs, "/netskope/test", "s"))
    assert set(held.values()) == {2}, "every event stored twice"


# --- a worker killed while it holds the lease --------------------------------------------------


@pytest.mark.parametrize("store", ["local", "s3"])
def test_a_worker_killed_holding_the_lease_is_taken_over_and_the_retry_is_exact(
    env, moto_server, flaky, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    """SIGKILL mid-delivery: on S3 the retry waits out the lease (8 s); locally it sees the holder is gone."""
    if store == "s3":
        use_s3_staging(moto_server, monkeypatch)
    mapped = staged("application", WINDOW, "killed")
    manifest = tmp_path / "killed.json"
    manifest.write_text(json.dumps(mapped))
    before = flaky.state()
    flaky.set(hold_after=before["forwarded_puts"] + 1, release=False)  # one put lands, the rest hang
    worker = subprocess.Popen(
        [sys.executable, str(STAGE_PROCESS), "deliver", str(manifest), "netskope_application", "killed", "1"],
        env={**os.environ, "NETSKOPE_AWS_CONN_ID": "aws_flaky"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while worker.poll() is None and not (
        (now := flaky.state())["held_puts"] > before["held_puts"] and now["stored_puts"] > before["stored_puts"]
    ):
        assert time.monotonic() < deadline, "no put reached the proxy"
        time.sleep(0.05)
    assert worker.poll() is None, f"the worker ended before it could be killed: {worker.communicate()[1][-3000:]}"
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    flaky.set(hold_after=None, release=True)
    landed = sum(home_stream_events(moto_server.client("logs"), "application", WINDOW.start, WINDOW.end).values())
    assert 0 < landed < mapped["events"]["records"], "the killed try delivered part of the window"

    retry = pipeline.deliver(mapped, area("application", "killed", 2))
    if store == "s3":
        assert 2 < retry["lease_waited_seconds"] < 30, "waited for the dead holder's lease to expire"
    else:
        assert retry["lease_waited_seconds"] < 2, "a holder gone from this machine is taken over at once"
    assert retry["delivery"]["already_present"] == landed
    assert retry["delivery"]["delivered"] == mapped["events"]["records"] - landed
    assert_exactly_the_ground_truth(env, moto_server, "application", WINDOW)


# --- AWS errors a retry cannot fix -------------------------------------------------------------


def test_an_identity_without_put_log_events_fails_at_once_naming_it(env, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto_server enforcing IAM: the identity may create groups and streams and read, but not put."""
    server = MotoServer()
    try:
        iam = server.client("iam")
        iam.create_user(UserName="netskope-delivery")
        allowed = [
            "logs:CreateLogGroup",
            "logs:PutRetentionPolicy",
            "logs:CreateLogStream",
            "logs:DescribeLogGroups",
            "logs:GetLogEvents",
        ]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}]}
        iam.put_user_policy(UserName="netskope-delivery", PolicyName="no-put", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="netskope-delivery")["AccessKey"]
        requests.post(f"{server.url}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_LIMITED",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": key["AccessKeyId"],
                    "password": key["SecretAccessKey"],
                    "extra": {"region_name": "us-east-1", "endpoint_url": server.url},
                }
            ),
        )
        mapped = staged("audit", WINDOW, "no_put")
        began = time.monotonic()
        with pytest.raises(AirflowFailException, match="logs:PutLogEvents") as failure:
            pipeline.deliver(mapped, area("audit", "no_put"), aws_conn_id="aws_limited")
        assert time.monotonic() - began < 30, "not retried"
        assert isinstance(failure.value.__cause__, CloudWatchPermissionError)
        assert failure.value.__cause__.permission == "logs:PutLogEvents"
        assert "/netskope/ocsf/audit" in str(failure.value)
    finally:
        server.stop()
