"""A tenant whose ``data/infrastructure`` ignores ``offset``: a whole DAG run still delivers each record once.

Netskope's CLI reads ``data/infrastructure`` as a single page (docs/simulator.md, ``ignores_offset``).
The pull then reads the window in parts of its time range that fit one page each
(``strategies.bisected_pages``); the first page, already handed on, is not handed on twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from conftest import REPO, airflow_with_simulator, expected_home_events

from netskope_provider.compat import DagBag, dag_test, task_return_value
from netskope_provider.demo import canonical, stream_documents
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

HOUR = 3600
WINDOW = (
    (int(datetime.now(UTC).timestamp()) // HOUR - 2) * HOUR,
    (int(datetime.now(UTC).timestamp()) // HOUR - 1) * HOUR,
)
#: Two and a half pages of 10,000: the window needs three parts at least.
RECORDS = 25_000


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        seed=31,
        start=WINDOW[0],
        end=WINDOW[1],
        volume={"infrastructure": RECORDS},
        ignores_offset=frozenset({"infrastructure"}),
    )
    with SimulatorServer(config) as sim:
        yield sim


def test_a_window_from_an_endpoint_ignoring_offset_is_delivered_exactly(simulator, moto_server, tmp_path_factory):
    moto_server.reset()
    with airflow_with_simulator(simulator, tmp_path_factory.mktemp("staging"), rate_limit_per_second=50):
        bag = DagBag(dag_folder=str(REPO / "dags"))
        dag_run = dag_test(bag.dags["netskope_infrastructure"], datetime.fromtimestamp(WINDOW[1], tz=UTC))
    assert dag_run.state == "success"
    assert len(simulator.ground_truth("infrastructure", *WINDOW)) == RECORDS
    delivered = Counter(
        canonical(document) for document in stream_documents(moto_server.client("logs"), "infrastructure", *WINDOW)
    )
    assert delivered == expected_home_events(simulator, "infrastructure", *WINDOW)
    summary = task_return_value(dag_run, "deliver")
    assert summary["fetched"] == summary["delivered"] == RECORDS
    # The fallback was taken: the first page was served again at offset 10,000, then the window in
    # parts (docs/hook.md: 14 requests, where an endpoint that honours offset needs 4).
    assert simulator.stats.records_served["infrastructure"] == 3 * RECORDS
    assert simulator.stats.requests["/api/v2/events/data/infrastructure"] == 14
