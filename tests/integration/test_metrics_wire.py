"""Issue 17 item 8: a real DAG run's ``netskope.*`` metrics arrive over UDP as StatsD packets, with their tags.

The run is ``dag.test()`` of ``netskope_alert`` in its own interpreter (Airflow builds its metrics
client once per process, from ``[metrics]``), with StatsD pointed at a UDP socket this test reads on
127.0.0.1 and InfluxDB-style tags (``[metrics] statsd_influxdb_enabled``: ``name,tag=value:1|c``).
Tenant: the simulator; AWS: moto_server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import REPO
from deployment import netskope_connection

from netskope_provider import metrics
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.ocsf.mapper import map_record
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
#: An hour no other module delivers, so the shared moto_server's streams never mix.
WINDOW = (NOW_HOUR - 6 * HOUR, NOW_HOUR - 5 * HOUR)
PREFIX = "airflow"

RUN = """
import sys
from datetime import UTC, datetime
from airflow.models.pool import Pool
from airflow.utils import db
from netskope_provider.compat import DagBag, dag_test

db.resetdb()
Pool.create_or_update_pool("netskope_api", slots=4, description="Netskope API calls", include_deferred=False)
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
run = dag_test(bag.dags["netskope_alert"], datetime.fromtimestamp(int(sys.argv[2]), tz=UTC))
print("STATE " + str(run.state))
"""


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(seed=23, start=WINDOW[0], end=WINDOW[1], volume=dict.fromkeys(LOG_TYPES, 40))
    with SimulatorServer(config) as sim:
        yield sim


def parse(packet: str) -> tuple[str, dict[str, str], float, str]:
    """``airflow.name,tag=value,...:12|c`` -> (name, tags, value, kind)."""
    head, _, rest = packet.rpartition(":")
    value, _, kind = rest.partition("|")
    name, *pairs = head.split(",")
    return name, dict(pair.split("=", 1) for pair in pairs), float(value), kind.split("|")[0]


def test_a_dag_runs_metrics_arrive_over_udp_with_their_tags(simulator, moto_server, tmp_path: Path) -> None:
    moto_server.reset()
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.2)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__METRICS", "NETSKOPE_"))},
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(listener.getsockname()[1]),
        "AIRFLOW__METRICS__STATSD_PREFIX": PREFIX,
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
        "AIRFLOW_CONN_NETSKOPE_DEFAULT": netskope_connection(simulator),
        "AIRFLOW_CONN_AWS_DEFAULT": moto_server.aws_conn_uri_json(),
        "NETSKOPE_STAGING_BASE": f"file://{tmp_path / 'staging'}",
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    process = subprocess.Popen(
        [sys.executable, "-c", RUN, str(REPO / "dags"), str(WINDOW[1])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    packets: list[str] = []
    deadline = time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:
        try:
            packets += listener.recv(65535).decode().splitlines()
        except TimeoutError:
            pass
    output = process.communicate(timeout=60)[0]
    for _ in range(10):  # what was sent just before the process ended
        try:
            packets += listener.recv(65535).decode().splitlines()
        except TimeoutError:
            break
    listener.close()
    moto_server.reset()  # leave the shared endpoint as the next module expects it
    assert "STATE success" in output, output[-4000:]

    ours = [parse(p) for p in packets if p.startswith(f"{PREFIX}.netskope.")]
    assert any(p.startswith(f"{PREFIX}.") and not p.startswith(f"{PREFIX}.netskope.") for p in packets), (
        "Airflow's own metrics arrive too: the listener hears the real client"
    )
    truth = simulator.ground_truth("alert", *WINDOW)
    mapped = [map_record(record, "alert") for record in truth]
    counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    gauges = {}
    for name, tags, value, kind in ours:
        assert tags.get("log_type") == "alert" and tags.get("tenant"), (name, tags)
        key = (name.removeprefix(f"{PREFIX}."), tuple(sorted(tags.items())))
        if kind == "c":
            counters[key] += value
        else:
            gauges[key] = value
    # The simulator's host has a port: ':' is not allowed in a stat name, so the tag carries '_' instead.
    tags = (("log_type", "alert"), ("tenant", simulator.host.replace(":", "_")))
    assert "Invalid stat name" not in output
    assert counters[(metrics.RECORDS_FETCHED, tags)] == len(truth) > 0
    assert counters[(metrics.RECORDS_DELIVERED, tags)] == sum(m.kind != "rejected" for m in mapped)
    assert counters[(metrics.RECORDS_RAW, tags)] == sum(m.kind == "raw" for m in mapped)
    assert counters[(metrics.API_REQUESTS, tags)] >= 1 and counters[(metrics.BYTES_DELIVERED, tags)] > 0
    by_class = Counter(str(m.class_uid) for m in mapped if m.kind == "ocsf")
    for uid, count in by_class.items():
        assert counters[(metrics.RECORDS_OCSF, tuple(sorted((*tags, ("class_uid", uid)))))] == count
    assert (metrics.LAG_SECONDS, tags) in gauges and gauges[(metrics.LAG_SECONDS, tags)] > 0
