"""The Netskope tenant simulator, exercised over real HTTP the way the hook and the DAGs use it."""

from __future__ import annotations

import functools
import itertools
import operator
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netskope_provider.simulator import FaultConfig, SimulatorConfig, SimulatorServer, generate
from netskope_provider.simulator import records as rec
from netskope_provider.simulator.records import POOL_SIZE, Corpus

S = 1_790_000_000
END = S + 3600
NOW = END + 7200
DATA_TYPES = ("application", "page", "network", "infrastructure", "audit", "alert")
TWO53 = 2**53


def api(sim: SimulatorServer, path: str, token: str | None = None, **params) -> requests.Response:
    headers = {"Netskope-Api-Token": token if token is not None else sim.token}
    return requests.get(f"{sim.url}/api/v2/{path}", params=params, headers=headers, timeout=30)


def result(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text[:300]
    body = orjson.loads(response.content)
    assert body["ok"] == 1, body
    return body["result"]


def ids(records: list[dict]) -> list[str]:
    return [record["_id"] for record in records]


@pytest.fixture(scope="module")
def sim():
    """A tenant whose clock stands after all generated data: everything is visible."""
    config = SimulatorConfig(seed=3, start=S, end=END, now=NOW, iterator_wait_seconds=0, iterator_batch_seconds=900)
    with SimulatorServer(config) as server:
        yield server


# -- envelopes, order, paging, bounds ------------------------------------------------------------------


@pytest.mark.parametrize("log_type", DATA_TYPES)
def test_data_endpoint_serves_the_ground_truth_in_stable_order(sim, log_type):
    records = result(api(sim, f"events/data/{log_type}", insertionstarttime=S, insertionendtime=END - 1, limit=10000))
    truth = sim.ground_truth(log_type, S, END)
    assert records == truth
    assert len(records) == len(set(ids(records))) > 0
    keys = [(record["_insertion_epoch_timestamp"], record["_id"]) for record in records]
    assert keys == sorted(keys)


def test_offset_paging_partitions_the_window_and_repeats_exactly(sim):
    pages: list[list[str]] = []
    while not pages or len(pages[-1]) == 97:
        query = {"insertionstarttime": S, "insertionendtime": END - 1, "limit": 97, "offset": 97 * len(pages)}
        pages.append(ids(result(api(sim, "events/data/application", **query))))
    assert len(pages) == 7  # 600 records
    assert functools.reduce(operator.iadd, pages, []) == ids(sim.ground_truth("application", S, END))
    again = ids(
        result(
            api(sim, "events/data/application", insertionstarttime=S, insertionendtime=END - 1, limit=97, offset=194)
        )
    )
    assert again == pages[2]


def test_insertion_bounds_are_inclusive_on_both_ends(sim):
    everything = sim.ground_truth("network", S, END)
    low, high = everything[10]["_insertion_epoch_timestamp"], everything[-10]["_insertion_epoch_timestamp"]
    served = result(api(sim, "events/data/network", insertionstarttime=low, insertionendtime=high, limit=10000))
    expected = [r for r in everything if low <= r["_insertion_epoch_timestamp"] <= high]
    assert served == expected
    assert served[0]["_insertion_epoch_timestamp"] == low and served[-1]["_insertion_epoch_timestamp"] == high
    assert served == sim.ground_truth("network", low, high + 1)


def test_event_time_filter_is_exclusive_start_inclusive_end(sim):
    everything = sim.ground_truth("alert", S, END)
    stamps = sorted({r["timestamp"] for r in everything})
    after, upto = stamps[5], stamps[-5]
    served = result(api(sim, "events/data/alert", starttime=after, endtime=upto, limit=10000))
    assert served == [r for r in everything if after < r["timestamp"] <= upto]
    assert all(r["timestamp"] != after for r in served)
    assert any(r["timestamp"] == upto for r in served)


def test_event_and_insertion_filters_combine(sim):
    everything = sim.ground_truth("page", S, END)
    ins_to = S + 1800
    after = everything[0]["timestamp"] + 600
    served = result(
        api(sim, "events/data/page", insertionstarttime=S, insertionendtime=ins_to, starttime=after, limit=10000)
    )
    assert served == [r for r in everything if r["_insertion_epoch_timestamp"] <= ins_to and r["timestamp"] > after]
    assert 0 < len(served) < len(everything)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=S - 100, max_value=END + 100), min_size=1, max_size=5, unique=True))
def test_any_insertion_windows_partition_the_records(sim, cuts):
    """Windows [a, b) asked as insertionstarttime=a, insertionendtime=b-1 neither overlap nor leave gaps."""
    edges = [S - 200, *sorted(cuts), END + 200]
    served = [
        ids(result(api(sim, "events/data/network", insertionstarttime=a, insertionendtime=b - 1, limit=10000)))
        for a, b in itertools.pairwise(edges)
    ]
    everything = sim.ground_truth("network", S, END)
    assert served == [
        [r["_id"] for r in everything if a <= r["_insertion_epoch_timestamp"] < b] for a, b in itertools.pairwise(edges)
    ]
    assert functools.reduce(operator.iadd, served, []) == ids(everything)


_PARAM_VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=12),
    st.sampled_from(["next", "resend", "head", "tail", "n:count(_id)", "dlp"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(
        [
            "events/data/alert",
            "events/datasearch/incident",
            "events/dataexport/events/page",
            "events/dataexport/alerts/uba",
        ]
    ),
    params=st.dictionaries(
        st.sampled_from(
            [
                "insertionstarttime",
                "insertionendtime",
                "starttime",
                "endtime",
                "limit",
                "offset",
                "type",
                "fields",
                "index",
                "operation",
            ]
        ),
        _PARAM_VALUES,
        max_size=6,
    ),
)
def test_any_query_gets_an_answer_never_a_simulator_error(sim, path, params):
    response = api(sim, path, **params)
    assert response.status_code in (200, 400), response.text[:300]
    assert "ok" in response.json() or "message" in response.json()
    assert sim.stats.internal_errors == []


@pytest.mark.parametrize("aggregate", ["count(_id)", "count(id)"])
def test_count_query(sim, aggregate):
    response = api(sim, "events/data/audit", insertionstarttime=S, insertionendtime=S + 1799, fields=f"n:{aggregate}")
    assert orjson.loads(response.content) == {"ok": 1, "result": [{"n": len(sim.ground_truth("audit", S, S + 1800))}]}


def test_fields_projection(sim):
    rows = result(api(sim, "events/data/audit", limit=3, fields="_id,audit_log_event"))
    assert [set(row) for row in rows] == [{"_id", "audit_log_event"}] * 3


@pytest.mark.parametrize("subtype", ["dlp", "DLP", "uba", "compromisedcredential", "Compromised Credential", "malsite"])
def test_alert_type_filter_matches_every_casing(sim, subtype):
    served = result(api(sim, "events/data/alert", type=subtype, limit=10000))
    wanted = "".join(subtype.split()).lower()
    assert served
    assert {"".join(r["alert_type"].split()).lower() for r in served} == {wanted}
    assert len(served) == sum(
        1 for r in sim.ground_truth("alert", S, END) if "".join(r["alert_type"].split()).lower() == wanted
    )


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"insertionstarttime": "yesterday"}, "insertionstarttime must be an integer"),
        ({"insertionstarttime": S + 10, "insertionendtime": S}, "is after insertionendtime"),
        ({"starttime": S + 10, "endtime": S}, "is after endtime"),
        ({"limit": 10001}, "limit must be at most 10000"),
        ({"offset": -1}, "zero or positive"),
        ({"unsorted": "maybe"}, "unsorted must be true or false"),
    ],
)
def test_bad_query_is_http_200_with_ok_0(sim, params, fragment):
    response = api(sim, "events/data/application", **params)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] == 0 and fragment in body["message"]


# -- datasearch (incidents) -----------------------------------------------------------------------------


def test_datasearch_incident_filters_on_event_time_only(sim):
    everything = sim.ground_truth("incident", S, END, served_by="datasearch")
    after, upto = everything[0]["timestamp"] - 1, S + 1200
    served = result(api(sim, "events/datasearch/incident", starttime=after, endtime=upto, limit=10000))
    assert served == [r for r in everything if after < r["timestamp"] <= upto]
    assert served == sim.ground_truth("incident", after + 1, upto + 1, by="event", served_by="datasearch")
    assert all(r["record_type"] == "incident" for r in served if "record_type" in r)
    refused = api(sim, "events/datasearch/incident", insertionstarttime=S, insertionendtime=END)
    assert refused.status_code == 400 and "event time only" in refused.json()["message"]


def test_datasearch_caps_a_page_at_10000_rows():
    config = SimulatorConfig(seed=4, start=S, end=END, now=NOW, volume={"incident": 10_050})
    with SimulatorServer(config) as big:
        query = {"starttime": S - 86400, "endtime": NOW}
        assert len(result(api(big, "events/datasearch/incident", limit=20000, **query))) == 10_000
        assert len(result(api(big, "events/datasearch/incident", limit=20000, offset=10_000, **query))) == 50


def test_incident_and_endpoint_have_no_data_endpoint(sim):
    assert api(sim, "events/data/incident").status_code == 404
    assert api(sim, "events/data/endpoint").status_code == 404


# -- the clock: late records ----------------------------------------------------------------------------


def test_records_inserted_after_now_are_not_served_until_now_passes():
    config = SimulatorConfig(seed=5, start=S, end=END, now=S + 1800, volume={"application": 400})
    with SimulatorServer(config) as late:
        query = {"insertionstarttime": S, "insertionendtime": END - 1, "limit": 10000}
        early = result(api(late, "events/data/application", **query))
        assert early and all(r["_insertion_epoch_timestamp"] <= S + 1800 for r in early)
        assert len(early) < len(late.ground_truth("application", S, END))
        late.inject("application", [{"_id": "late-1", "timestamp": S - 7200, "_insertion_epoch_timestamp": S + 1900}])
        assert "late-1" not in ids(result(api(late, "events/data/application", **query)))
        late.set_now(END + 60)
        settled = result(api(late, "events/data/application", **query))
        assert ids(settled) == ids(late.ground_truth("application", S, END))
        assert "late-1" in ids(settled)


def test_real_clock_serves_only_what_is_already_inserted():
    began = int(time.time())
    config = SimulatorConfig(seed=28, start=began - 600, end=began + 86_400, volume={"network": 3000})
    with SimulatorServer(config) as live:
        served = result(api(live, "events/data/network", limit=10000))
        asked_by = int(time.time())
        assert served and all(r["_insertion_epoch_timestamp"] <= asked_by for r in served)
        assert len(served) < len(live.ground_truth("network", began - 600, began + 86_400))


def test_injected_records_take_their_place_in_the_order(sim):
    records = [
        {"_id": "0000-injected-a", "timestamp": S - 50_000, "_insertion_epoch_timestamp": S + 100, "alert_type": "DLP"},
        {
            "_id": "ffff-injected-b",
            "timestamp": S - 40_000,
            "_insertion_epoch_timestamp": S + 100,
            "alert_type": "Malware",
        },
    ]
    with SimulatorServer(SimulatorConfig(seed=6, start=S, end=END, now=NOW)) as fresh:
        fresh.inject("alert", records)
        served = result(api(fresh, "events/data/alert", insertionstarttime=S + 100, insertionendtime=S + 100))
        assert served[0]["_id"] == "0000-injected-a" and served[-1]["_id"] == "ffff-injected-b"
        dlp = ids(result(api(fresh, "events/data/alert", type="dlp", limit=10000)))
        assert "0000-injected-a" in dlp and "ffff-injected-b" not in dlp
        with pytest.raises(ValueError, match="already injected"):
            fresh.inject("alert", records[:1])
        with pytest.raises(ValueError, match="integer _insertion_epoch_timestamp"):
            fresh.inject("alert", [{"_id": "x", "timestamp": S}])


# -- the dataexport iterator ----------------------------------------------------------------------------


def iterate(sim: SimulatorServer, path: str, index: str, operation: str | int) -> dict:
    response = api(sim, path, index=index, operation=operation)
    assert response.status_code == 200, response.text[:300]
    return orjson.loads(response.content)


def inserted_at(sim: SimulatorServer, log_type: str) -> dict[str, int]:
    """``_id`` -> insertion time, from the ground truth (iterator records do not carry it)."""
    return {r["_id"]: r["_insertion_epoch_timestamp"] for r in sim.ground_truth(log_type, 0, NOW + 1)}


def test_iterator_epoch_then_next_delivers_everything_once_with_hwm_and_wait(sim):
    path = "events/dataexport/events/endpoint"
    inserted = inserted_at(sim, "endpoint")
    page = iterate(sim, path, "it-1", S)
    seen = ids(page["result"])
    marks = []
    while page["timestamp_hwm"] < NOW:
        assert page["result"] and page["wait_time"] == 0
        assert all(inserted[r["_id"]] <= page["timestamp_hwm"] for r in page["result"])
        marks.append(page["timestamp_hwm"])
        page = iterate(sim, path, "it-1", "next")
        seen += ids(page["result"])
    assert len(marks) >= 3 and marks == sorted(marks)
    assert page["timestamp_hwm"] == NOW  # caught up: the mark stands at the tenant's "now"
    assert seen == ids(sim.ground_truth("endpoint", S, NOW + 1))
    assert iterate(sim, path, "it-1", "next") == {"ok": 1, "result": [], "wait_time": 0, "timestamp_hwm": NOW}


def test_an_iterator_index_is_free_again_when_its_answer_arrives(sim, monkeypatch):
    # The index used to be released only after the answer was written, so a client asking again at
    # once (on a new connection, served by another thread) could meet its own finished request and
    # get a 409: a flaky CI failure. A handler thread that lingers after writing shows it every time.
    send = SimulatorServer._send

    def send_then_linger(self, handler, response, faults):
        send(self, handler, response, faults)
        time.sleep(0.3)

    monkeypatch.setattr(SimulatorServer, "_send", send_then_linger)
    path = "events/dataexport/events/endpoint"
    first = iterate(sim, path, "it-quick", NOW)
    assert iterate(sim, path, "it-quick", "resend") == first  # iterate asserts the 200 itself


def test_iterator_asks_to_wait_once_caught_up():
    config = SimulatorConfig(seed=2, start=S, end=END, now=NOW, volume={"endpoint": 20}, iterator_wait_seconds=7)
    with SimulatorServer(config) as waiting:
        page = iterate(waiting, "events/dataexport/events/endpoint", "w", S)
        assert len(page["result"]) == 20 and page["wait_time"] == 7 and page["timestamp_hwm"] == NOW


def test_iterator_pages_are_one_batch_of_insertion_time_when_configured(sim):
    first = iterate(sim, "events/dataexport/events/page", "it-batch", S)["result"]
    inserted = [inserted_at(sim, "page")[r["_id"]] for r in first]
    assert inserted and max(inserted) - min(inserted) < 900 and len(first) < 300


def test_iterator_resend_repeats_the_last_page_without_moving(sim):
    path = "events/dataexport/events/network"
    first = iterate(sim, path, "it-2", S)
    assert iterate(sim, path, "it-2", "resend") == first
    second = iterate(sim, path, "it-2", "next")
    assert iterate(sim, path, "it-2", "resend") == second
    assert ids(second["result"])[0] > ids(first["result"])[-1]
    nothing_yet = iterate(sim, path, "it-never-read", "resend")
    assert nothing_yet["result"] == [] and nothing_yet["timestamp_hwm"] == NOW


def test_iterator_indexes_are_independent_per_name_and_endpoint(sim):
    one = iterate(sim, "events/dataexport/events/audit", "shared", S)
    other = iterate(sim, "events/dataexport/events/audit", "other", S)
    alerts = iterate(sim, "events/dataexport/alerts/dlp", "shared", S)
    assert one == other
    assert alerts["result"] and {rec.normalise_alert_type(r["alert_type"]) for r in alerts["result"]} == {"dlp"}


def test_iterator_next_on_a_new_index_starts_at_now_and_head_tail(sim):
    fresh = iterate(sim, "events/dataexport/events/infrastructure", "never-seeded", "next")
    assert fresh["result"] == [] and fresh["timestamp_hwm"] == NOW
    head = iterate(sim, "events/dataexport/events/infrastructure", "h", "head")
    assert ids(head["result"]) == ids(sim.ground_truth("infrastructure", 0, NOW + 1))[: len(head["result"])]
    tail = iterate(sim, "events/dataexport/events/infrastructure", "h", "tail")
    assert tail["result"] == [] and iterate(sim, "events/dataexport/events/infrastructure", "h", "next")["result"] == []


def test_iterator_needs_an_index_and_a_known_operation(sim):
    assert api(sim, "events/dataexport/events/page", operation="next").status_code == 400
    assert api(sim, "events/dataexport/events/page", index="x", operation="sideways").status_code == 400
    assert (
        api(sim, "events/dataexport/events/page", index="x", operation="\u00b2").status_code == 400
    )  # a digit, not a number


def test_iterator_409_when_one_index_is_used_concurrently():
    faults = FaultConfig(slow_next=1, slow_seconds=2.0, path_contains="dataexport")
    config = SimulatorConfig(seed=8, start=S, end=END, now=NOW, volume={"endpoint": 300}, faults=faults)
    with SimulatorServer(config) as busy:
        slow: list[requests.Response] = []
        first = threading.Thread(
            target=lambda: slow.append(api(busy, "events/dataexport/events/endpoint", index="i", operation=S))
        )
        first.start()
        while busy.stats.faults["slow"] == 0:  # the first request now holds the index
            threading.Event().wait(0.01)
        conflict = api(busy, "events/dataexport/events/endpoint", index="i", operation="next")
        other_index = api(busy, "events/dataexport/events/endpoint", index="j", operation=S)
        first.join()
        assert conflict.status_code == 409 and "Concurrency conflict" in conflict.json()["message"]
        assert conflict.headers["Retry-After"] == "1"
        assert other_index.status_code == 200 and slow[0].status_code == 200
        assert busy.stats.conflicts == 1
        busy.faults.conflict_next = 1
        assert api(busy, "events/dataexport/events/endpoint", index="i", operation="next").status_code == 409
        assert api(busy, "events/dataexport/events/endpoint", index="i", operation="next").status_code == 200


# -- auth, scopes, routing, rate limits -----------------------------------------------------------------


def test_auth_401_for_missing_or_wrong_token_without_echoing_it(sim):
    missing = requests.get(f"{sim.url}/api/v2/events/data/page", timeout=10)
    wrong = api(sim, "events/data/page", token="not-the-token-XYZ")
    assert missing.status_code == wrong.status_code == 401
    assert "not-the-token-XYZ" not in wrong.text
    bearer = requests.get(
        f"{sim.url}/api/v2/events/data/page", headers={"Authorization": f"Bearer {sim.token}"}, timeout=10
    )
    assert bearer.status_code == 200


def test_token_rotation_invalidates_the_old_token_at_once():
    with SimulatorServer(SimulatorConfig(seed=9, start=S, end=END, now=NOW, token="old")) as rotating:
        assert api(rotating, "events/data/audit").status_code == 200
        rotating.set_token("new")
        assert api(rotating, "events/data/audit", token="old").status_code == 401
        assert api(rotating, "events/data/audit", token="new").status_code == 200
        assert rotating.token == "new"


def test_scopes_403_outside_the_tokens_log_types():
    config = SimulatorConfig(seed=10, start=S, end=END, now=NOW, token="t1", scopes={"t1": {"page"}, "t2": {"alert"}})
    with SimulatorServer(config) as scoped:
        assert api(scoped, "events/data/page", token="t1").status_code == 200
        denied = api(scoped, "events/data/network", token="t1")
        assert denied.status_code == 403 and denied.json() == {"message": "You cannot consume this service"}
        assert api(scoped, "events/dataexport/alerts/dlp", token="t2", index="x", operation=S).status_code == 200
        assert api(scoped, "events/dataexport/events/connection", token="t1", index="x", operation=S).status_code == 200
        assert api(scoped, "events/dataexport/events/page", token="t2", index="x", operation=S).status_code == 403
        assert api(scoped, "events/nothing/here", token="t1").status_code == 404


@pytest.mark.parametrize(
    "path", ["events/data/nope", "events/dataexport/alerts/nope", "v1/events", "events/data/page/extra"]
)
def test_unknown_paths_are_404(sim, path):
    assert api(sim, path).status_code == 404


def test_rate_limit_per_endpoint_with_headers_and_429():
    with SimulatorServer(SimulatorConfig(seed=12, start=S, end=END, now=NOW, rate_limit_per_second=0.2)) as limited:
        allowed = api(limited, "events/data/page")
        throttled = api(limited, "events/data/page")
        elsewhere = api(limited, "events/data/network")
        assert allowed.status_code == 200 and elsewhere.status_code == 200
        assert throttled.status_code == 429 and throttled.json() == {"message": "API rate limit exceeded"}
        for response in (allowed, throttled, elsewhere):
            assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(response.headers)
        assert throttled.headers["RateLimit-Remaining"] == "0"
        assert int(throttled.headers["Retry-After"]) >= 1
        assert limited.stats.throttled == 1 and limited.stats.statuses[429] == 1


def test_retry_after_on_a_429_is_the_limiters_real_wait_below_one_request_a_second():
    """At 0.5 requests/s the bucket refills in 2 s: Retry-After says 2, and a client that honours it gets in."""
    with SimulatorServer(SimulatorConfig(seed=12, start=S, end=END, now=NOW, rate_limit_per_second=0.5)) as limited:
        assert api(limited, "events/data/page").status_code == 200
        throttled = api(limited, "events/data/page")
        refused_at = time.monotonic()
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "2"
        time.sleep(1.0)  # what a hard-coded "Retry-After: 1" promised: the bucket is still empty
        early = api(limited, "events/data/page")
        if time.monotonic() - refused_at < 1.9:  # a stalled machine could make the early retry on time
            assert early.status_code == 429 and early.headers["Retry-After"] == "1"
        time.sleep(max(0.0, refused_at + 2.0 - time.monotonic()))
        assert api(limited, "events/data/page").status_code == 200
        assert limited.stats.internal_errors == []


def test_a_429_storm_on_an_allowed_request_asks_for_one_second():
    faults = FaultConfig(throttle_next=1)
    with SimulatorServer(
        SimulatorConfig(seed=19, start=S, end=END, now=NOW, rate_limit_per_second=0.5, faults=faults)
    ) as f:
        stormed = api(f, "events/data/page")
        assert stormed.status_code == 429 and stormed.headers["Retry-After"] == "1"
        assert stormed.headers["RateLimit-Remaining"] == "0"


def test_tls_with_a_throwaway_certificate():
    with SimulatorServer(SimulatorConfig(seed=27, start=S, end=END, now=NOW, tls=True)) as secure:
        assert secure.url.startswith("https://127.0.0.1:") and secure.ca_file
        headers = {"Netskope-Api-Token": secure.token}
        served = requests.get(
            f"{secure.url}/api/v2/events/data/audit", headers=headers, verify=secure.ca_file, timeout=30
        )
        assert result(served) == secure.ground_truth("audit", S, END)[:100]
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{secure.url}/api/v2/events/data/audit", headers=headers, timeout=30)  # system CAs: untrusted
        assert secure.stats.internal_errors == []


# -- faults --------------------------------------------------------------------------------------------


def test_fault_5xx_then_recovery():
    with SimulatorServer(
        SimulatorConfig(seed=13, start=S, end=END, now=NOW, faults=FaultConfig(error_next=2, error_status=502))
    ) as f:
        assert [api(f, "events/data/audit").status_code for _ in range(3)] == [502, 502, 200]
        assert f.stats.faults["error"] == 2


def test_fault_connection_reset_sends_nothing():
    with SimulatorServer(SimulatorConfig(seed=14, start=S, end=END, now=NOW, faults=FaultConfig(reset_next=1))) as f:
        with pytest.raises(requests.ConnectionError):
            api(f, "events/data/audit")
        assert api(f, "events/data/audit").status_code == 200


def test_fault_truncated_body_is_shorter_than_its_content_length():
    with SimulatorServer(SimulatorConfig(seed=15, start=S, end=END, now=NOW, faults=FaultConfig(truncate_next=1))) as f:
        with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
            api(f, "events/data/application", limit=50)
        assert len(result(api(f, "events/data/application", limit=50))) == 50


def test_fault_slow_response_outlasts_a_short_client_timeout():
    faults = FaultConfig(slow_next=1, slow_seconds=1.5)
    with SimulatorServer(SimulatorConfig(seed=16, start=S, end=END, now=NOW, faults=faults)) as f:
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(f"{f.url}/api/v2/events/data/audit", headers={"Netskope-Api-Token": f.token}, timeout=(5, 0.3))
        assert f.stats.faults["slow"] == 1


def test_fault_html_login_page_with_http_200():
    with SimulatorServer(SimulatorConfig(seed=17, start=S, end=END, now=NOW, faults=FaultConfig(html_next=1))) as f:
        page = api(f, "events/data/audit")
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert b"Sign In" in page.content
        assert result(api(f, "events/data/audit"))


def test_fault_429_storm_and_path_filter():
    faults = FaultConfig(throttle_next=3, path_contains="/page")
    with SimulatorServer(SimulatorConfig(seed=18, start=S, end=END, now=NOW, faults=faults)) as f:
        assert api(f, "events/data/network").status_code == 200
        assert [api(f, "events/data/page").status_code for _ in range(4)] == [429, 429, 429, 200]
        assert f.stats.throttled == 3


def test_random_faults_are_deterministic_from_the_seed():
    def statuses(seed: int) -> list[tuple[int, str]]:
        """What 24 sequential requests got: HTTP status and content type (HTML pages come with 200)."""
        faults = FaultConfig(error_rate=0.3, html_rate=0.2)
        with SimulatorServer(SimulatorConfig(seed=seed, start=S, end=END, now=NOW, faults=faults)) as f:
            responses = [api(f, "events/data/audit", limit=1) for _ in range(24)]
            return [(response.status_code, response.headers["Content-Type"]) for response in responses]

    first = statuses(19)
    assert first == statuses(19)
    assert len(set(first)) > 1
    assert first != statuses(20)


def test_faults_can_change_while_running(sim):
    sim.faults.error_next = 1
    try:
        assert api(sim, "events/data/audit").status_code == 503
    finally:
        sim.faults.error_next = 0
    assert api(sim, "events/data/audit").status_code == 200


# -- records --------------------------------------------------------------------------------------------


def test_generation_is_deterministic_and_seed_dependent():
    a = generate("alert", 300, S, END, seed=1)
    assert a == generate("alert", 300, S, END, seed=1)
    assert a != generate("alert", 300, S, END, seed=2)
    assert [r["_insertion_epoch_timestamp"] for r in a] == sorted(r["_insertion_epoch_timestamp"] for r in a)
    assert all(S <= r["_insertion_epoch_timestamp"] < END for r in a)


def test_served_bytes_are_the_generated_records(sim):
    corpus = Corpus("application", 600, S, END, 3)
    served = result(api(sim, "events/data/application", insertionstarttime=S, insertionendtime=END - 1, limit=10000))
    assert served == [corpus.record(i) for i in range(len(corpus))]
    assert served == [orjson.loads(corpus.record_bytes(i)) for i in range(len(corpus))]


def test_big_ids_stay_exact_on_the_wire(sim):
    response = api(sim, "events/data/application", limit=200)
    records = result(response)
    big = [
        (name, r[name])
        for r in records
        for name in ("connection_id", "transaction_id", "request_id", "app_session_id")
        if r[name]
    ]
    assert len(big) > 500
    assert all(isinstance(value, int) and TWO53 < value < 2**63 for _, value in big)
    text = response.text
    assert all(f'"{name}":{value}' in text for name, value in big)  # written as JSON integers, all digits kept
    incidents = result(api(sim, "events/datasearch/incident", starttime=0, endtime=NOW, limit=50))
    assert all(r["dlp_incident_id"] > TWO53 and r["incident_id"] > TWO53 for r in incidents)
    assert all(
        r["dlp_match_info"][0]["dlp_forensic_id"] == r["dlp_incident_id"] == r["dlp_parent_id"] for r in incidents
    )


@pytest.mark.parametrize("log_type", rec.LOG_TYPE_NAMES)
def test_ids_are_unique_hex_and_timestamps_precede_insertion(log_type):
    records = generate(log_type, 2000, S, END, seed=22)
    assert len({r["_id"] for r in records}) == 2000
    assert all(re.fullmatch(r"[0-9a-f]{24}([0-9a-f]{8}|[0-9a-f]{40})?", r["_id"]) for r in records)
    assert all(0 < r["_insertion_epoch_timestamp"] - r["timestamp"] <= 4 * 3600 for r in records)


def corpus_values(log_type: str, field: str) -> set:
    return {r.get(field) for r in generate(log_type, POOL_SIZE, S, END, seed=23)}


def test_corpus_covers_every_application_activity_of_the_spec_with_alert_yes_and_no():
    records = generate("application", POOL_SIZE, S, END, seed=23)
    pairs = {(r["activity"], r["alert"]) for r in records}
    for activity in rec.APP_FILE_ACTIVITIES:
        assert {(activity, "no"), (activity, "yes")} <= pairs, activity
    for activity in rec.APP_LOGIN_ACTIVITIES:
        assert (activity, "no") in pairs
    assert {"Browse", "SSO Login"} <= {a for a, _ in pairs}
    assert any(
        r["access_method"] == "API Connector" and r["_insertion_epoch_timestamp"] - r["timestamp"] > 600
        for r in records
    )
    assert any("record_type" not in r for r in records) and any(r.get("record_type") == "application" for r in records)
    assert any(r["activity"] != r["activity"].strip() for r in generate("application", 4 * POOL_SIZE, S, END, seed=23))


def test_corpus_covers_every_audit_event_of_the_spec_and_unlisted_ones():
    events = corpus_values("audit", "audit_log_event")
    listed = rec.AUDIT_AUTH_EVENTS + rec.AUDIT_ENTITY_EVENTS + rec.AUDIT_ACCOUNT_EVENTS
    assert len(listed) == 55
    assert set(listed) <= events
    assert {"Enabled REST API tokens", "Created new REST API token"} <= events


def test_corpus_covers_network_actions_in_mixed_casing():
    actions = corpus_values("network", "action")
    assert {a.lower() for a in actions} >= {"allow", "block", "bypass", "closed", "idle timeout", "proceed", "drop"}
    assert {"allow", "Block", "Allow", "block"} <= actions


def test_corpus_covers_alert_types_in_their_casings():
    types = corpus_values("alert", "alert_type")
    assert set(rec.ALERT_LISTED_TYPES) <= types
    assert {"watchlist", "Security Assessment", "quarantine", "Remediation", "ctep"} <= types
    records = generate("alert", POOL_SIZE, S, END, seed=23)
    assert all(r["alert"] == "yes" for r in records)
    assert any("record_type" not in r for r in records) and any(r.get("record_type") == "alert" for r in records)


def test_corpus_page_endpoint_incident_and_infrastructure_shapes():
    pages = generate("page", POOL_SIZE, S, END, seed=23)
    assert {r["type"] for r in pages} == {"connection"}
    assert all("record_type" not in r for r in pages)  # as the published page record
    assert all(
        r["conn_starttime"] < r["conn_endtime"] == r["timestamp"] - 1 < r["_insertion_epoch_timestamp"]
        and r["conn_duration"] == r["conn_endtime"] - r["conn_starttime"]
        for r in pages
    )
    endpoint = generate("endpoint", POOL_SIZE, S, END, seed=23)
    assert {r["type"] for r in endpoint} == {"endpoint"}
    assert {r.get("record_type") for r in endpoint} == {"epdlp", None}
    assert all(r.get("dlp_profile") for r in endpoint if r.get("record_type") == "epdlp")
    incidents = generate("incident", POOL_SIZE, S, END, seed=23)
    assert any(r.get("record_type") == "incident" for r in incidents) and any("record_type" not in r for r in incidents)
    assert all(len(r["_id"]) == 64 and r["dlp_match_info"][0]["dlp_rules"] for r in incidents)
    infra = generate("infrastructure", POOL_SIZE, S, END, seed=23)
    assert any(r.get("record_type") == "infrastructure" for r in infra)
    assert {r["metric_name"] for r in infra} >= {"cpu_usage", "tunnel_status"}


def test_records_take_the_published_shapes():
    """Where the published records (docs/simulator.md) fix a field's shape, the generated ones follow."""
    application = generate("application", POOL_SIZE, S, END, seed=23)
    strings = ("app_activity", "dsthost", "instance", "object_id", "user_id", "data_type", "notify_template")
    numbers = ("client_bytes", "server_bytes", "numbytes", "conn_duration")
    assert all(isinstance(r[name], str) for r in application for name in strings + ("scan_type",))
    assert all(type(r[name]) is int for r in application for name in numbers)
    assert {r["notify_template"] for r in application} >= {"", "silent_block.html", "useralert_justify.html"}
    assert all("record_type" not in r for r in generate("audit", POOL_SIZE, S, END, seed=23))
    network = generate("network", POOL_SIZE, S, END, seed=23)
    ends = [r["timestamp"] - _epoch(r["end_time"]) for r in network]
    assert min(ends) >= 85 and max(ends) <= 95
    assert all(_epoch(r["start_time"]) <= _epoch(r["end_time"]) for r in network)


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def test_src_time_is_local_ctime_in_the_records_minute():
    """ctime with a space-padded day, the user's local time (``src_timezone``), ``timestamp``'s minute."""
    seen = set()
    for log_type in ("application", "page", "alert"):
        for r in generate(log_type, POOL_SIZE, S, END, seed=23):
            local = datetime.fromtimestamp(r["timestamp"], ZoneInfo(r["src_timezone"]))
            assert r["src_time"][:16] == f"{local:%a %b} {local.day:2d} {local:%H:%M}", r
            assert r["src_time"][19:] == f" {local:%Y}"
            seen.add(int(r["src_time"][17:19]) == local.second)
    assert seen == {True, False}
    assert rec._ctime(1_788_264_000) == "Tue Sep  1 12:00:00 2026"


def test_corpus_carries_empty_string_and_zero_defaults():
    records = generate("application", POOL_SIZE, S, END, seed=23)
    assert all(r["sAMAccountName"] == "" and r["req_cnt"] == 0 and r["custom_attr"] == {} for r in records)
    assert any(r["connection_id"] == 0 for r in records)


def test_generated_dicts_share_no_mutable_values():
    first, second = generate("audit", 2, S, END, seed=24)[0], generate("audit", 2, S, END, seed=24)[0]
    first["supporting_data"]["data_values"].append("mutated")
    assert first != second


def test_bad_generation_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="expected one of"):
        generate("firewall", 1, S, END, seed=1)
    with pytest.raises(ValueError, match="pass end > start"):
        generate("page", 1, END, S, seed=1)
    with pytest.raises(ValueError, match="unknown log types"):
        SimulatorServer(SimulatorConfig(volume={"firewall": 1}))
    with pytest.raises(ValueError, match="integers from 0"):
        SimulatorServer(SimulatorConfig(volume={"page": -1}))
    with pytest.raises(ValueError, match="must be positive"):
        SimulatorServer(SimulatorConfig(rate_limit_per_second=0))
    with pytest.raises(ValueError, match="iterator_batch_seconds must be at least 1"):
        SimulatorServer(SimulatorConfig(iterator_batch_seconds=0))
    with pytest.raises(ValueError, match="must be after start"):
        SimulatorServer(SimulatorConfig(start=END, end=S))


def test_large_corpus_is_lazy_and_pages_by_index():
    corpus = Corpus("network", 200_000, S, S + 86400, seed=25)
    assert len(corpus) == 200_000
    lo, hi = corpus.bisect_insertion(S + 43200, S + 43200 + 59)
    assert all(S + 43200 <= corpus.insertion[i] < S + 43260 for i in range(lo, hi))
    assert orjson.loads(corpus.record_bytes(199_999))["_insertion_epoch_timestamp"] == corpus.insertion[-1]


# -- command line ---------------------------------------------------------------------------------------


def test_command_line_serves_a_tenant():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netskope_provider.simulator",
            "--port",
            "0",
            "--token",
            "cli-token",
            "--volume",
            "audit=50",
            "--start",
            str(S),
            "--end",
            str(END),
            "--now",
            str(NOW),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        response = requests.get(
            f"{url}/api/v2/events/data/audit", headers={"Netskope-Api-Token": "cli-token"}, timeout=30
        )
        assert result(response) == generate(
            "audit", 50, S, END, seed=7
        )  # the default seed; reproducible out of process
        assert "cli-token" not in line
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_simulator_ships_in_the_wheel_and_runs_from_it(tmp_path):
    """A user's own tests import the simulator from the installed distribution, not from a checkout."""
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.skip("uv is not installed in this environment (make installs it)")
    root = Path(__file__).resolve().parents[2]
    environment = {**os.environ, "HATCH_BUILD_NO_HOOKS": "true"}  # the pure wheel: no mypyc build needed here
    built = subprocess.run(
        [str(uv), "build", "--wheel", "--quiet", "-o", str(tmp_path / "dist"), str(root)],
        capture_output=True, text=True, timeout=300, env=environment,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    zipfile.ZipFile(wheel).extractall(tmp_path / "installed")
    script = (
        "import requests, netskope_provider.simulator as s\n"
        "print(s.__file__)\n"
        "with s.SimulatorServer(s.SimulatorConfig(start=1790000000, end=1790003600, now=1790007200)) as sim:\n"
        "    r = requests.get(sim.url + '/api/v2/events/dataexport/events/audit', params={'index': 'w', 'operation': 0},\n"
        "                     headers={'Netskope-Api-Token': sim.token}, timeout=30)\n"
        "    print(r.status_code, len(r.json()['result']))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(tmp_path / "installed")},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    where, answer = ran.stdout.splitlines()
    assert where.startswith(str(tmp_path / "installed")) and answer == "200 300"


def test_the_simulator_sources_name_no_machine_paths():
    package = Path(rec.__file__).parent
    found = [
        f"{source.name}: {line.strip()}"
        for source in sorted(package.glob("*.py"))
        for line in source.read_text().splitlines()
        if re.search(r"(?<![\w.])/(work|home|Users|tmp|root)/", line)
    ]
    assert found == []


def test_stats_count_requests_statuses_records_and_keep_queries_without_the_token(sim):
    before = Counter(sim.stats.records_served)
    result(api(sim, "events/data/infrastructure", limit=7, insertionstarttime=S))
    assert sim.stats.records_served["infrastructure"] - before["infrastructure"] == 7
    assert sim.stats.requests["/api/v2/events/data/infrastructure"] >= 1
    assert sim.stats.statuses[200] >= 1
    assert sim.stats.queries[-1] == ("/api/v2/events/data/infrastructure", {"limit": "7", "insertionstarttime": str(S)})
    assert sim.token not in repr(sim.stats)
    assert sim.stats.internal_errors == []


def test_a_simulator_bug_is_a_plain_http_500(monkeypatch):
    with SimulatorServer(SimulatorConfig(seed=26, start=S, end=END, now=NOW)) as broken:

        def explode(*args, **kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(broken.tenant, "handle", explode)  # a stubbed helper, not the server under test
        response = api(broken, "events/data/page")
        assert response.status_code == 500 and "RuntimeError('boom')" in response.json()["message"]
        assert broken.stats.internal_errors == ["/api/v2/events/data/page: RuntimeError('boom')"]
