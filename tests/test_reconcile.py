"""Reconciliation: CloudWatch counts per window against the simulated tenant's, found and healed exactly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from conftest import canonical_json, cloudwatch_window_events, expected_cloudwatch_events
from netskope_provider import cloudwatch, reconcile
from netskope_provider.api.client import NetskopeClient
from netskope_provider.simulator import SimulatorConfig, SimulatorServer, generate

HOUR = 3600
NOW_HOUR = int(datetime.now(timezone.utc).timestamp()) // HOUR * HOUR
#: Three closed hours, all older than the default settle delay.
PERIOD = (NOW_HOUR - 4 * HOUR, NOW_HOUR - HOUR)
W1, W2, W3 = reconcile.windows(*PERIOD)
#: audit has a count query (data/*), incident does not (re-pull of ids).
LOG_TYPES = ("audit", "incident")


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(seed=23, start=PERIOD[0], end=PERIOD[1], volume={name: 30 for name in LOG_TYPES})
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture
def client(simulator: SimulatorServer) -> Iterator[NetskopeClient]:
    with NetskopeClient(simulator.host, lambda refresh: simulator.token, scheme="http") as netskope:
        yield netskope


def deliver_ground_truth(simulator: SimulatorServer, logs, log_type: str, window: tuple[int, int]) -> int:
    """Put a window's expected events into its stream the way the pipeline would; returns how many."""
    events = [(window[0] * 1000, message) for message in expected_cloudwatch_events(simulator, log_type, *window).elements()]
    group = f"/netskope/ocsf/{log_type}"
    cloudwatch.ensure_log_group(logs, group)
    cloudwatch.deliver(events, logs, group, cloudwatch.stream_name(log_type, *window))
    return len(events)


def test_windows_partition_the_period_and_refuse_unaligned_bounds() -> None:
    assert reconcile.windows(7200, 18000) == [(7200, 10800), (10800, 14400), (14400, 18000)]
    assert reconcile.windows(0, 1800, step=900) == [(0, 900), (900, 1800)]
    with pytest.raises(ValueError, match="after its start"):
        reconcile.windows(3600, 3600)
    with pytest.raises(ValueError, match="multiple of the window length 3600"):
        reconcile.windows(3600, 9000)


def test_check_finds_missing_window_late_records_and_surplus(simulator, client, moto_server) -> None:
    moto_server.reset()
    logs = moto_server.client("logs")
    for log_type in LOG_TYPES:
        deliver_ground_truth(simulator, logs, log_type, W1)
        deliver_ground_truth(simulator, logs, log_type, W2)
    simulator.inject("audit", generate("audit", 3, W1[0], W1[0] + 60, seed=5))  # inserted late into a delivered window
    simulator.inject("incident", generate("incident", 2, W2[0], W2[0] + 60, seed=6))
    surplus = (W2[0] * 1000, canonical_json({"duplicate": True}))
    cloudwatch.deliver([surplus], logs, "/netskope/ocsf/audit", cloudwatch.stream_name("audit", *W2))

    found = {}
    for log_type in LOG_TYPES:
        for check in reconcile.check_log_type(client, logs, f"/netskope/ocsf/{log_type}", log_type, [W1, W2, W3]):
            assert check.source == len(simulator.ground_truth(log_type, check.start, check.end))
            assert check.delivered == sum(cloudwatch_window_events(logs, log_type, check.start, check.end).values())
            found[log_type, check.start] = (check.gap, check.method)

    assert found == {
        ("audit", W1[0]): (3, "count"), ("audit", W2[0]): (-1, "count"),
        ("audit", W3[0]): (len(simulator.ground_truth("audit", *W3)), "count"),
        ("incident", W1[0]): (0, "repull"), ("incident", W2[0]): (2, "repull"),
        ("incident", W3[0]): (len(simulator.ground_truth("incident", *W3)), "repull"),
    }
    assert all(gap for gap, _ in (found["audit", W3[0]], found["incident", W3[0]])), "the dropped window holds records"


def test_missing_log_group_counts_as_nothing_delivered(simulator, client, moto_server) -> None:
    moto_server.reset()
    checks = reconcile.check_log_type(client, moto_server.client("logs"), "/netskope/ocsf/none", "audit", [W1])
    assert [(c.delivered, c.gap) for c in checks] == [(0, len(simulator.ground_truth("audit", *W1)))]
    assert reconcile.mismatches(checks) == checks


def test_table_lists_every_window_and_marks_mismatches() -> None:
    checks = [
        reconcile.WindowCheck("audit", W1[0], W1[1], source=10, delivered=10, method="count"),
        reconcile.WindowCheck("audit", W2[0], W2[1], source=12, delivered=9, method="count"),
        reconcile.WindowCheck("incident", W3[0], W3[1], source=4, delivered=5, method="repull"),
    ]
    lines = reconcile.format_table(checks).splitlines()
    assert lines[0].split() == ["log", "type", "window", "start", "(UTC)", "tenant", "delivered", "gap", "method"]
    start = datetime.fromtimestamp(W2[0], tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert lines[3].split() == ["audit", start, "12", "9", "+3", "count", "MISSING"]
    assert lines[4].split()[-3:] == ["-1", "repull", "SURPLUS"] and lines[2].split()[-1] == "ok"
    assert reconcile.mismatches(checks) == checks[1:]
    assert checks[1].as_dict()["gap"] == 3
