"""A tenant whose ``data/infrastructure`` ignores ``offset``: a whole DAG run still delivers each record once.

Netskope's CLI reads ``data/infrastructure`` as a single page (docs/simulator.md, ``ignores_offset``).
The pull then reads the window in parts of its time range that fit one page each
(``strategies.bisected_pages``); the first page, already handed on, is not handed on twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import (
    HOUR_BEFORE_LAST,
    PAGED_RECORDS,
    expected_home_events,
    infrastructure_run,
    paged_infrastructure_tenant,
)

from netskope_provider.compat import task_return_value
from netskope_provider.simulator import SimulatorServer


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with paged_infrastructure_tenant(31, ignores_offset=frozenset({"infrastructure"})) as sim:
        yield sim


def test_a_window_from_an_endpoint_ignoring_offset_is_delivered_exactly(simulator, moto_server, tmp_path_factory):
    dag_run, delivered = infrastructure_run(simulator, moto_server, tmp_path_factory.mktemp("staging"))
    assert dag_run.state == "success"
    assert len(simulator.ground_truth("infrastructure", *HOUR_BEFORE_LAST)) == PAGED_RECORDS
    assert delivered == expected_home_events(simulator, "infrastructure", *HOUR_BEFORE_LAST)
    summary = task_return_value(dag_run, "deliver")
    assert summary["fetched"] == summary["delivered"] == PAGED_RECORDS
    # The fallback was taken: the first page was served again at offset 10,000, then the window in
    # parts (docs/hook.md: 14 requests, where an endpoint that honours offset needs 4).
    assert simulator.stats.records_served["infrastructure"] == 3 * PAGED_RECORDS
    assert simulator.stats.requests["/api/v2/events/data/infrastructure"] == 14
