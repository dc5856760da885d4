"""A tenant whose ``data/infrastructure`` answer changes order between requests: no record is lost silently.

Netskope documents no order for ``data/*`` (docs/simulator.md, ``unstable_order``). Paging by
offset through an answer whose order moves skips as many records as it repeats, and the count still
matches. The pull refuses such an answer (a page serving a record of the page before it), so the
run fails instead of delivering a wrong window, and the window pulled in sub-windows that fit one
page each (no offset needed) is delivered exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
import requests
from conftest import REPO, airflow_with_simulator, expected_home_events

from netskope_provider.api.client import TOKEN_HEADER, NetskopeClient
from netskope_provider.compat import DagBag, dag_test, task_return_value
from netskope_provider.demo import canonical, stream_documents
from netskope_provider.exceptions import NetskopePagingError
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

HOUR = 3600
WINDOW = (
    (int(datetime.now(UTC).timestamp()) // HOUR - 2) * HOUR,
    (int(datetime.now(UTC).timestamp()) // HOUR - 1) * HOUR,
)
#: Two and a half pages of 10,000, ~7 records a second: the seconds at the page boundaries hold several.
RECORDS = 25_000


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        seed=37,
        start=WINDOW[0],
        end=WINDOW[1],
        volume={"infrastructure": RECORDS},
        unstable_order=frozenset({"infrastructure"}),
    )
    with SimulatorServer(config) as sim:
        yield sim


def client(sim: SimulatorServer) -> NetskopeClient:
    return NetskopeClient(sim.host, lambda refresh: sim.token, scheme="http", rate_limit_per_second=50)


def test_the_simulated_answer_would_lose_records_silently_if_paged_by_offset(simulator) -> None:
    """What the check guards against, shown on the wire: pages at offsets repeat and skip records alike."""
    params = {"insertionstarttime": WINDOW[0], "insertionendtime": WINDOW[1] - 1, "limit": 10_000}
    url = f"http://{simulator.host}/api/v2/events/data/infrastructure"
    headers = {TOKEN_HEADER: simulator.token}
    pages = [
        requests.get(url, params={**params, "offset": offset}, headers=headers, timeout=60).json()["result"]
        for offset in (0, 10_000, 20_000)
    ]
    served = Counter(orjson.dumps(record) for page in pages for record in page)
    truth = Counter(orjson.dumps(record) for record in simulator.ground_truth("infrastructure", *WINDOW))
    assert served.total() == truth.total() == RECORDS, "the count matches"
    assert served != truth, "yet some records came twice and as many never came"


def test_an_answer_whose_order_moved_fails_the_pull_and_says_what_to_do(simulator) -> None:
    with client(simulator) as api, pytest.raises(NetskopePagingError) as failed:
        for _ in api.iter_window_pages("infrastructure", *WINDOW):
            pass
    message = str(failed.value)
    assert "order of its answer changed between requests" in message
    assert "NETSKOPE_SPLIT_MINUTES_<LOG_TYPE>" in message and "Nothing was delivered from this try" in message


def test_the_run_fails_and_delivers_nothing(simulator, moto_server, tmp_path_factory) -> None:
    moto_server.reset()
    with airflow_with_simulator(simulator, tmp_path_factory.mktemp("staging"), rate_limit_per_second=50) as patch:
        patch.setenv("NETSKOPE_RETRIES", "0")
        bag = DagBag(dag_folder=str(REPO / "dags"))
        dag_run = dag_test(bag.dags["netskope_infrastructure"], datetime.fromtimestamp(WINDOW[1], tz=UTC))
    assert dag_run.state == "failed"
    assert dag_run.get_task_instance("fetch").state == "failed"
    assert stream_documents(moto_server.client("logs"), "infrastructure", *WINDOW) == []


def test_pulled_in_sub_windows_that_fit_one_page_the_window_is_delivered_exactly(
    simulator, moto_server, tmp_path_factory
) -> None:
    moto_server.reset()
    requests_before = simulator.stats.requests["/api/v2/events/data/infrastructure"]
    with airflow_with_simulator(simulator, tmp_path_factory.mktemp("staging"), rate_limit_per_second=50) as patch:
        patch.setenv("NETSKOPE_SPLIT_MINUTES_INFRASTRUCTURE", "15")  # ~6,250 records each: one page, no offset
        bag = DagBag(dag_folder=str(REPO / "dags"))
        dag_run = dag_test(bag.dags["netskope_infrastructure"], datetime.fromtimestamp(WINDOW[1], tz=UTC))
    assert dag_run.state == "success"
    delivered = Counter(
        canonical(document) for document in stream_documents(moto_server.client("logs"), "infrastructure", *WINDOW)
    )
    assert delivered == expected_home_events(simulator, "infrastructure", *WINDOW)
    assert delivered.total() == RECORDS
    summaries = [task_return_value(dag_run, "deliver", index) for index in range(4)]
    assert sum(summary["fetched"] for summary in summaries) == RECORDS
    # Four sub-windows, each one short page and one count.
    assert simulator.stats.requests["/api/v2/events/data/infrastructure"] - requests_before == 8
