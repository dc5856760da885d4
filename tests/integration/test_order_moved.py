"""A tenant whose ``data/*`` answer changes order between requests: no record is lost silently.

Netskope documents no order for ``data/*`` (docs/simulator.md, ``unstable_order``). Paging by
offset through an answer whose order moves skips as many records as it repeats, and the count still
matches. The client refuses such an answer (a page serving a record of the page before it:
``OrderMoved``); the fetch then pulls the window again, in parts of its time range that fit one
page each (no offset), into fresh staged files. Split into sub-windows that fit one page, the
window needs no offset at all.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator

import orjson
import pytest
import requests
from conftest import (
    HOUR_BEFORE_LAST,
    PAGED_RECORDS,
    expected_home_events,
    infrastructure_run,
    paged_infrastructure_tenant,
)
from deployment import FAST_CLIENT
from pipeline_tasks import run_task
from scripted_tenant import Reply, ScriptedTenant, Seen, counted

from netskope_provider import read_ledger, staging
from netskope_provider.api.client import PAGE_SIZE, TOKEN_HEADER, NetskopeClient
from netskope_provider.api.strategies import OrderMoved
from netskope_provider.compat import task_return_value
from netskope_provider.exceptions import NetskopePagingError
from netskope_provider.pipeline import RAW_FILE, check_balance
from netskope_provider.simulator import SimulatorServer

WINDOW = HOUR_BEFORE_LAST
RECORDS = PAGED_RECORDS


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with paged_infrastructure_tenant(37, unstable_order=frozenset({"infrastructure"})) as sim:
        yield sim


def client(sim: SimulatorServer) -> NetskopeClient:
    return NetskopeClient(sim.host, lambda refresh: sim.token, scheme="http", rate_limit_per_second=50)


class TiesReversedPastOffsetZero:
    """A scripted answer whose order moves: as stored at offset 0, each second's records reversed at later offsets.

    ``records`` are ``(second, raw)``. A ``data/*`` query selects them by its insertion bounds (both
    inclusive), a ``datasearch`` query by event time (``starttime`` exclusive, ``endtime`` inclusive,
    none meaning the tenant's now).
    """

    def __init__(self, records: list[tuple[int, bytes]]) -> None:
        self.records = records

    def _selected(self, seen: Seen) -> list[tuple[int, bytes]]:
        params = seen.params
        if "insertionstarttime" in params:
            low, high = int(params["insertionstarttime"]), int(params["insertionendtime"])
        else:
            low, high = int(params["starttime"]) + 1, int(params.get("endtime", sys.maxsize))
        return [(second, raw) for second, raw in self.records if low <= second <= high]

    def page(self, seen: Seen) -> Reply:
        offset, limit = int(seen.params["offset"]), int(seen.params["limit"])
        selected = self._selected(seen)
        if offset:  # ties in a new order: each second's records reversed
            groups: dict[int, list[bytes]] = {}
            for second, raw in sorted(selected, key=lambda item: item[0]):
                groups.setdefault(second, []).insert(0, raw)
            ordered = [raw for second in sorted(groups) for raw in groups[second]]
        else:
            ordered = [raw for _, raw in selected]
        return Reply(body=b'{"ok":1,"result":[' + b",".join(ordered[offset : offset + limit]) + b"]}")

    def count(self, seen: Seen) -> Reply:
        return counted(len(self._selected(seen)))


def connect_to(tenant: ScriptedTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Netskope connection of the tasks: ``tenant`` over plain HTTP, with the fast test client's extras."""
    extra = {"allow_non_goskope_host": True, "scheme": "http", **FAST_CLIENT}
    connection = {"conn_type": "netskope", "host": tenant.host, "password": "order-moved-token", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", json.dumps(connection))


def offsets_asked(tenant: ScriptedTenant) -> list[str | None]:
    return [seen.params.get("offset") for seen in tenant.pages_seen]


def seven_a_second(start: int, make: Callable[[int, int], bytes]) -> list[tuple[int, bytes]]:
    """Half a page more than a page of records from ``start`` on, ``make(n, second)`` each: the page boundary
    falls inside a second of several records, so reversing the ties repeats some of them."""
    seconds = [start + n // 7 for n in range(PAGE_SIZE + 500)]
    return [(second, make(n, second)) for n, second in enumerate(seconds)]


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


def test_the_run_reads_the_window_again_in_parts_and_delivers_it_exactly(simulator, moto_server, tmp_path_factory):
    served_before = simulator.stats.records_served["infrastructure"]
    staging_dir = tmp_path_factory.mktemp("staging")
    dag_run, delivered = infrastructure_run(simulator, moto_server, staging_dir, NETSKOPE_RETRIES="0")  # one try
    assert dag_run.state == "success"
    assert delivered == expected_home_events(simulator, "infrastructure", *WINDOW)
    assert delivered.total() == RECORDS
    summary = task_return_value(dag_run, "deliver")
    assert summary["fetched"] == summary["delivered"] == RECORDS, "the first pull's staged records were replaced"
    # The offset pull stopped at a repeat; the parts then served every record again (and the full
    # pages of the parts that had to be halved).
    assert simulator.stats.records_served["infrastructure"] - served_before > 2 * RECORDS


def test_pulled_in_sub_windows_that_fit_one_page_the_window_is_delivered_exactly(
    simulator, moto_server, tmp_path_factory
) -> None:
    requests_before = simulator.stats.requests["/api/v2/events/data/infrastructure"]
    staging_dir = tmp_path_factory.mktemp("staging")
    # ~6,250 records each: one page, no offset.
    dag_run, delivered = infrastructure_run(
        simulator, moto_server, staging_dir, NETSKOPE_SPLIT_MINUTES_INFRASTRUCTURE="15"
    )
    assert dag_run.state == "success"
    assert delivered == expected_home_events(simulator, "infrastructure", *WINDOW)
    assert delivered.total() == RECORDS
    summaries = [task_return_value(dag_run, "deliver", index) for index in range(4)]
    assert sum(summary["fetched"] for summary in summaries) == RECORDS
    # Four sub-windows, each one short page and one count.
    assert simulator.stats.requests["/api/v2/events/data/infrastructure"] - requests_before == 8


@pytest.mark.parametrize("store", ["local", "s3"])
def test_the_fetch_started_over_stages_each_record_once_and_quarantines_once(
    tmp_path, monkeypatch, moto_server, store: str
) -> None:
    """A scripted ``data/audit`` whose second page starts inside the first (each second's records reversed at
    offsets past 0): the first pull staged a page and quarantined a NaN record and a non-object; the
    second pull's files replace the first's, and the books balance."""
    start, end = WINDOW
    records = seven_a_second(
        start,
        lambda n, second: orjson.dumps(
            {"_id": f"a{n}", "timestamp": second, "type": "audit", "audit_log_event": "Login"}
        ),
    )
    records[3] = (records[3][0], b'{"_id":"nan","timestamp":%d,"v":NaN}' % records[3][0])
    records[5] = (records[5][0], b"[1,2]")
    answer = TiesReversedPastOffsetZero(records)

    if store == "s3":  # the start-over overwrites S3 objects as it does local files
        moto_server.client("s3").create_bucket(Bucket="netskope-order-moved")
        staging_base, conn_id = "s3://netskope-order-moved/staging", "aws_default"
        monkeypatch.setenv("NETSKOPE_STAGING_CONN_ID", conn_id)
    else:
        staging_base, conn_id = f"file://{tmp_path / 'staging'}", None
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", staging_base)
    with ScriptedTenant(answer.page) as tenant:
        tenant.count_fallback = answer.count
        connect_to(tenant, monkeypatch)
        manifest = run_task("fetch", log_type="audit", start=start, end=end, run_id="order_moved")
    offsets = offsets_asked(tenant)
    assert offsets[:2] == ["0", str(PAGE_SIZE)] and set(offsets[2:]) == {"0"}, "two offset pages, then parts"
    folder = staging.run_folder(staging_base, "netskope_audit", "order_moved", 1, conn_id)
    hostile = {records[3][1], records[5][1]}
    staged = Counter(staging.read_lines(folder / RAW_FILE))
    assert staged == Counter(raw for _, raw in records if raw not in hostile), "each record once"
    assert manifest["fetched"]["records"] == len(records) - 2
    assert manifest["fetch_quarantined"] == 2, "the first pull's quarantine was replaced, not added to"
    quarantine = staging.quarantine_file(staging_base, "netskope_audit", "order_moved", 1, "fetch", conn_id)
    assert len(list(staging.read_lines(quarantine))) == 2
    assert manifest["mapped"]["events"]["records"] == len(records) - 2
    check_balance(manifest["mapped"])


def test_an_incident_answer_whose_order_moved_fails_the_try_saying_what_splitting_helps(tmp_path, monkeypatch) -> None:
    """The incident query cannot be read in parts: the fetch fails the try at the page that repeats (Airflow retries it),
    reading nothing more, and the error says which of its pulls splitting helps (not the scheduled one)."""
    start, end = WINDOW
    answer = TiesReversedPastOffsetZero(
        seven_a_second(start, lambda n, second: orjson.dumps({"_id": f"i{n}", "timestamp": second, "type": "incident"}))
    )
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", f"file://{tmp_path / 'staging'}")
    with ScriptedTenant(answer.page) as tenant:
        tenant.count_fallback = answer.count
        connect_to(tenant, monkeypatch)
        with pytest.raises(OrderMoved) as failed:
            run_task("fetch", log_type="incident", start=start, end=end, run_id="order_moved")
    assert {seen.path for seen in tenant.pages_seen} == {"/api/v2/events/datasearch/incident"}
    assert offsets_asked(tenant) == ["0", str(PAGE_SIZE)], "refused at the second page, not read again"
    message = str(failed.value)
    assert (
        "order of its answer changed between requests" in message and "Nothing was delivered from this try" in message
    )
    assert "scheduled incident pull reads event time from its look-back up to now and cannot be split" in message
    assert "NETSKOPE_SPLIT_MINUTES_INCIDENT pulls it as sub-windows" in message
    ledger = read_ledger.load(read_ledger.store(f"file://{tmp_path / 'staging'}", None, "netskope_incident"))
    assert ledger.cursor is None, "the read cursor stays where the last delivered pull left it (here: none)"
